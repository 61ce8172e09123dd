/*
 * messages.h — every string sessio-shop's HTML pages show, in English and
 * French, in one table (an X-macro: M(ID, english, french)). Pages name a
 * message by its ID and look it up with tr() (i18n.c); "{1}" and "{2}" in
 * a message are filled by tr_fmt()/sb_tr(). A new string goes here, in both
 * languages, never as a literal in a page.
 */
#ifndef SHOP_MESSAGES_H
#define SHOP_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#define SHOP_MESSAGES(M)                                                                           \
  M(SITE, "sessio shop", "boutique sessio")                                                        \
  M(SKIP, "Skip to content", "Aller au contenu")                                                   \
  M(NAV_LABEL, "Main", "Principale")                                                               \
  M(NAV_PRODUCTS, "Products", "Produits")                                                          \
  M(NAV_CART, "Cart", "Panier")                                                                    \
  M(NAV_PREFS, "Preferences", "Préférences")                                                       \
  M(NAV_ORDERS, "Orders", "Commandes")                                                             \
  M(NAV_SESSIONS, "Sessions", "Sessions")                                                          \
  M(CART_ITEMS, "items in the cart", "articles dans le panier")                                    \
  M(SIGNED_IN_AS, "Signed in as", "Connecté en tant que")                                          \
  M(SIGN_IN, "Sign in", "Se connecter")                                                            \
  M(SIGN_OUT, "Sign out", "Se déconnecter")                                                        \
  M(FOOTER,                                                                                        \
    "sessio shop — a demo of server-side sessions. Your browser holds only a random "            \
    "session ID; everything else stays on the server.",                                            \
    "boutique sessio — une démo de sessions côté serveur. Votre navigateur ne garde qu’un " \
    "identifiant de session aléatoire ; tout le reste reste sur le serveur.")                      \
  M(HOME_INTRO, "Good coffee gear, remembered from page to page.",                                 \
    "Du bon matériel à café, mémorisé d’une page à l’autre.")                                      \
  M(RECENT, "Recently viewed", "Vus récemment")                                                    \
  M(QTY, "Qty", "Qté")                                                                             \
  M(QTY_OF, "Quantity of {1}", "Quantité de {1}")                                                  \
  M(ADD_TO_CART, "Add to cart", "Ajouter au panier")                                               \
  M(DETAILS, "Details", "Détails")                                                                 \
  M(PICTURE_OF, "Picture of {1}", "Photo : {1}")                                                   \
  M(BACK_TO_PRODUCTS, "All products", "Tous les produits")                                         \
  M(BAD_QTY, "The quantity must be a whole number from 1 to 99.",                                  \
    "La quantité doit être un nombre entier de 1 à 99.")                                           \
  M(ADDED, "Added {1} × {2} to your cart.", "{1} × {2} ajouté au panier.")                         \
  M(ADDED_CAPPED, "{1} is limited to 99 per order: your cart now holds 99.",                       \
    "{1} est limité à 99 par commande : votre panier en contient maintenant 99.")                  \
  M(REMOVED, "Removed from your cart.", "Retiré du panier.")                                       \
  M(UPDATED, "Quantity updated.", "Quantité mise à jour.")                                         \
  M(CART_TITLE, "Your cart", "Votre panier")                                                       \
  M(CART_EMPTY, "Your cart is empty.", "Votre panier est vide.")                                   \
  M(SEE_PRODUCTS, "See the products", "Voir les produits")                                         \
  M(CHECKOUT, "Checkout", "Commander")                                                             \
  M(PRODUCT, "Product", "Produit")                                                                 \
  M(PRICE, "Price", "Prix")                                                                        \
  M(LINE_TOTAL, "Total", "Total")                                                                  \
  M(ACTIONS, "Actions", "Actions")                                                                 \
  M(UPDATE, "Update", "Mettre à jour")                                                             \
  M(REMOVE, "Remove", "Retirer")                                                                   \
  M(SUBTOTAL, "Subtotal", "Sous-total")                                                            \
  M(SHIPPING, "Shipping", "Livraison")                                                             \
  M(TOTAL_TO_PAY, "Total to pay", "Total à payer")                                                 \
  M(LOGIN_TITLE, "Sign in", "Connexion")                                                           \
  M(USER_NAME, "User name", "Nom d’utilisateur")                                                   \
  M(PASSWORD, "Password", "Mot de passe")                                                          \
  M(REMEMBER, "Remember me on this device",                                                        \
    "Se souvenir de moi sur cet appareil")                                                         \
  M(DEMO_USERS, "Demo users: {1} / {2} and {3} / {4}.",                                            \
    "Utilisateurs de démo : {1} / {2} et {3} / {4}.")                                              \
  M(ALREADY_IN,                                                                                    \
    "You are signed in as {1}. Signing in as another user starts that user's own "                 \
    "session: nothing of this account (cart, preferences, checkout details) is "                   \
    "carried over.",                                                                               \
    "Vous êtes connecté en tant que {1}. Vous connecter sous un autre nom ouvre la session "     \
    "propre à cet utilisateur : rien de ce compte (panier, préférences, commande en cours) "    \
    "n’est repris.")                                                                               \
  M(LOGIN_FAILED, "Wrong user name or password.",                                                  \
    "Nom d’utilisateur ou mot de passe incorrect.")                                                \
  M(LOGIN_THROTTLED, "Too many attempts, try again in {1} s.",                                     \
    "Trop de tentatives, réessayez dans {1} s.")                                                   \
  M(BUSY_T, "Busy", "Occupé")                                                                      \
  M(BUSY, "Too many sign-ins at once. Please try again in a moment.",                              \
    "Trop de connexions en même temps. Réessayez dans un instant.")                                \
  M(SIGNED_IN, "You are signed in.", "Vous êtes connecté.")                                        \
  M(SIGNED_OUT, "You were signed out.", "Vous avez été déconnecté.")                               \
  M(SESSION_ENDED,                                                                                 \
    "You were signed out: your session ended (it expired or was signed out "                       \
    "from another device).",                                                                       \
    "Vous avez été déconnecté : votre session a pris fin (elle a expiré ou a été fermée "  \
    "depuis un autre appareil).")                                                                  \
  M(PREFS_TITLE, "Preferences", "Préférences")                                                     \
  M(PREFS_INTRO, "Kept in your session: they follow you on every page.",                           \
    "Gardées dans votre session : elles vous suivent sur chaque page.")                            \
  M(THEME, "Theme", "Thème")                                                                       \
  M(LIGHT, "Light", "Clair")                                                                       \
  M(DARK, "Dark", "Sombre")                                                                        \
  M(LANGUAGE, "Language", "Langue")                                                                \
  M(LANG_DE, "Deutsch (pages in English for now)",                                                 \
    "Deutsch (pages en anglais pour l’instant)")                                                   \
  M(SAVE, "Save", "Enregistrer")                                                                   \
  M(PREFS_SAVED, "Preferences saved.", "Préférences enregistrées.")                                \
  M(BAD_PREF,                                                                                      \
    "The theme must be light or dark and the language en, fr or de.",                              \
    "Le thème doit être clair ou sombre et la langue en, fr ou de.")                               \
  M(CO_ADDRESS_T, "Checkout: address", "Commande : adresse")                                       \
  M(CO_SHIPPING_T, "Checkout: shipping", "Commande : livraison")                                   \
  M(CO_REVIEW_T, "Checkout: review", "Commande : vérification")                                    \
  M(STEP_ADDRESS, "Address", "Adresse")                                                            \
  M(STEP_SHIPPING, "Shipping", "Livraison")                                                        \
  M(STEP_REVIEW, "Review", "Vérification")                                                         \
  M(STEPS_LABEL, "Checkout steps", "Étapes de la commande")                                        \
  M(F_NAME, "Full name", "Nom complet")                                                            \
  M(F_STREET, "Street and number", "Rue et numéro")                                                \
  M(F_CITY, "City", "Ville")                                                                       \
  M(F_ZIP, "Postcode", "Code postal")                                                              \
  M(F_COUNTRY, "Country", "Pays")                                                                  \
  M(CHOOSE, "Choose…", "Choisir…")                                                                 \
  M(ADDR_MISSING, "Please fill in every field of the address.",                                    \
    "Veuillez remplir tous les champs de l’adresse.")                                              \
  M(TOO_LONG, "A field is longer than 200 characters.",                                            \
    "Un champ dépasse 200 caractères.")                                                            \
  M(CONTINUE, "Continue", "Continuer")                                                             \
  M(BACK_TO_CART, "Back to cart", "Retour au panier")                                              \
  M(BACK, "Back", "Retour")                                                                        \
  M(SHIP_METHOD, "Shipping method", "Mode de livraison")                                           \
  M(SHIP_STANDARD, "Standard (3–5 days)", "Standard (3 à 5 jours)")                                \
  M(SHIP_EXPRESS, "Express (next day)", "Express (le lendemain)")                                  \
  M(SHIP_PICKUP, "Pick up in the shop", "Retrait en boutique")                                     \
  M(SHIP_MISSING, "Please choose a shipping method.",                                              \
    "Veuillez choisir un mode de livraison.")                                                      \
  M(BAD_SHIP, "Choose one of the listed methods.",                                                 \
    "Choisissez l’un des modes proposés.")                                                         \
  M(NOTE, "Delivery note (optional)", "Note pour la livraison (facultatif)")                       \
  M(DELIVER_TO, "Deliver to", "Livrer à")                                                          \
  M(ITEMS, "Items", "Articles")                                                                    \
  M(PLACE_ORDER, "Place order", "Passer la commande")                                              \
  M(CART_EMPTY_CO, "Your cart is empty: add a product before checking out.",                       \
    "Votre panier est vide : ajoutez un produit avant de commander.")                              \
  M(ORDER_PLACED, "Thank you! Order {1} is placed: {2} item(s) on the way.",                       \
    "Merci ! La commande {1} est passée : {2} article(s) en route.")                               \
  M(ORDER_T, "Order {1}", "Commande {1}")                                                          \
  M(ORDERS_T, "Your orders", "Vos commandes")                                                      \
  M(NO_ORDERS, "You have not ordered anything yet.",                                               \
    "Vous n’avez encore rien commandé.")                                                           \
  M(ORDER_NO, "Order", "Commande")                                                                 \
  M(PLACED_AT, "Placed", "Passée")                                                                 \
  M(ORDER_ITEMS, "Items", "Articles")                                                              \
  M(ALL_ORDERS, "All your orders", "Toutes vos commandes")                                         \
  M(SESSIONS_T, "Your sessions", "Vos sessions")                                                   \
  M(SESSIONS_H, "Where you are signed in", "Où vous êtes connecté")                                \
  M(DEVICE, "Device", "Appareil")                                                                  \
  M(SIGNED_IN_AT, "Signed in", "Connexion")                                                        \
  M(LAST_SEEN, "Last seen", "Dernière activité")                                                   \
  M(EXPIRES, "Expires", "Expire")                                                                  \
  M(THIS_DEVICE, "this device", "cet appareil")                                                    \
  M(REMEMBERED, "remembered", "mémorisée")                                                         \
  M(SIGN_OUT_OTHERS, "Sign out everywhere else",                                                   \
    "Se déconnecter partout ailleurs")                                                             \
  M(SIGNED_OUT_N, "Signed out {1} other session(s).",                                              \
    "{1} autre(s) session(s) fermée(s).")                                                          \
  M(CHOOSE_SESSION, "Choose a session to sign out.",                                               \
    "Choisissez une session à fermer.")                                                            \
  M(PAGE_N, "Page {1} of {2}", "Page {1} sur {2}")                                                 \
  M(PREV, "Previous", "Précédente")                                                                \
  M(NEXT, "Next", "Suivante")                                                                      \
  M(UNKNOWN_DEVICE, "Unknown device", "Appareil inconnu")                                          \
  M(UA_ON, "{1} on {2}", "{1} sur {2}")                                                            \
  M(JUST_NOW, "just now", "à l’instant")                                                           \
  M(MIN_AGO, "{1} min ago", "il y a {1} min")                                                      \
  M(H_AGO, "{1} h ago", "il y a {1} h")                                                            \
  M(D_AGO, "{1} d ago", "il y a {1} j")                                                            \
  M(IN_MIN, "in {1} min", "dans {1} min")                                                          \
  M(IN_H, "in {1} h", "dans {1} h")                                                                \
  M(IN_D, "in {1} d", "dans {1} j")                                                                \
  M(BACK_TO_SHOP, "Back to the shop", "Retour à la boutique")                                      \
  M(E400_T, "Bad request", "Requête invalide")                                                     \
  M(E400, "The request was malformed: a form field could not be read.",                            \
    "La requête est mal formée : un champ du formulaire est illisible.")                           \
  M(E401_T, "Not signed in", "Non connecté")                                                       \
  M(E401, "Please sign in.", "Veuillez vous connecter.")                                           \
  M(E403_T, "Forbidden", "Interdit")                                                               \
  M(E403,                                                                                          \
    "This form has expired or was sent from another site. Go back, reload the page and "           \
    "try again.",                                                                                  \
    "Ce formulaire a expiré ou vient d’un autre site. Revenez en arrière, rechargez la page "  \
    "et réessayez.")                                                                               \
  M(E404_T, "Not found", "Page introuvable")                                                       \
  M(E404, "There is no page at this address.",                                                     \
    "Il n’y a pas de page à cette adresse.")                                                       \
  M(E405_T, "Method not allowed", "Méthode non autorisée")                                         \
  M(E405, "This address does not accept that method.",                                             \
    "Cette adresse n’accepte pas cette méthode.")                                                  \
  M(E413_T, "Too large", "Trop volumineux")                                                        \
  M(E413, "The request or one of its fields is too large.",                                        \
    "La requête ou l’un de ses champs est trop volumineux.")                                       \
  M(E415_T, "Unsupported media type", "Type de contenu non pris en charge")                        \
  M(E415, "This content type is not accepted here.",                                               \
    "Ce type de contenu n’est pas accepté ici.")                                                   \
  M(E429_T, "Too many requests", "Trop de requêtes")                                               \
  M(E429,                                                                                          \
    "Too many requests from your address carried a session that does not exist. Please "           \
    "wait a moment and try again.",                                                                \
    "Trop de requêtes venues de votre adresse portaient une session inexistante. Patientez "      \
    "un instant et réessayez.")                                                                    \
  M(REAUTH, "Please enter your password again to continue.",                                       \
    "Saisissez de nouveau votre mot de passe pour continuer.")                                     \
  M(E409_DEVICES_T, "Too many devices", "Trop d’appareils")                                        \
  M(E409_DEVICES, "Signed in on too many devices: sign one out first",                             \
    "Connecté sur trop d’appareils : déconnectez-en un d’abord")                                   \
  M(E400_BOTH,                                                                                     \
    "This request carried a session in both a cookie and an Authorization header. "                \
    "Send only one.",                                                                              \
    "Cette requête portait une session à la fois dans un cookie et dans un en-tête "            \
    "Authorization. N’en envoyez qu’une.")                                                         \
  M(E429_NEW,                                                                                      \
    "Too many new sessions were started from your address. Please wait a moment and "              \
    "try again.",                                                                                  \
    "Trop de nouvelles sessions ont été ouvertes depuis votre adresse. Patientez un instant "    \
    "et réessayez.")                                                                               \
  M(E431_T, "Headers too large", "En-têtes trop volumineux")                                       \
  M(E431,                                                                                          \
    "The request headers (cookies, most likely) are too large. Clear this site's cookies "         \
    "and try again.",                                                                              \
    "Les en-têtes de la requête (sans doute les cookies) sont trop volumineux. Effacez les "     \
    "cookies de ce site et réessayez.")                                                            \
  M(E431_PREFS,                                                                                    \
    "Your preferences could not be read from this request, so this page uses the "                 \
    "language and the light or dark look your browser asks for.",                                  \
    "Vos préférences n’ont pas pu être lues dans cette requête : cette page "                \
    "prend la langue et l’apparence claire ou sombre que demande votre navigateur.")               \
  M(E503_T, "Store unavailable", "Stockage indisponible")                                          \
  M(E503, "The session store is unavailable. Please try again in a moment.",                       \
    "Le stockage des sessions est indisponible. Réessayez dans un instant.")                       \
  M(E500_T, "Server error", "Erreur du serveur")                                                   \
  M(E500, "Something went wrong on our side.",                                                     \
    "Un problème est survenu de notre côté.")                                                      \
  M(UNKNOWN_PRODUCT_T, "Unknown product", "Produit inconnu")                                       \
  M(UNKNOWN_PRODUCT, "That product is not in the catalogue.",                                      \
    "Ce produit n’est pas au catalogue.")                                                          \
  M(NOTHING_TO_REMOVE, "Nothing to remove.", "Rien à retirer.")

typedef enum {
#define SHOP_MSG_ENUM(id, en, fr) MSG_##id,
  SHOP_MESSAGES(SHOP_MSG_ENUM)
#undef SHOP_MSG_ENUM
      MSG_COUNT
} msg_id;

struct sbuf;

/* The language pages are written in for the preference 'pref' (NULL:
 * English): "fr" or "en" (a language without translations shows English,
 * and says so in <html lang>). */
const char *ui_lang(const char *pref);
/* The language of the shop an Accept-Language header value (NULL: none)
 * prefers most: "fr" or "en" (the default), by q-value, the first listed
 * winning a tie; "*" is English. For pages written before the session (and
 * its language preference) can be read. */
const char *accept_lang(const char *header);
/* Message 'm' in 'lang' ("fr", else English). Static storage. */
const char *tr(const char *lang, msg_id m);
/* Message 'm' with "{1}".."{4}" replaced by 'args' (n of them, may be NULL),
 * as plain text into 'out' (truncated to 'size'). Returns 'out'. */
char *tr_fmt(char *out, size_t size, const char *lang, msg_id m,
             const char *const *args, size_t n);
/* The same, HTML-escaped (message and arguments), appended to 'b'. */
void sb_tr(struct sbuf *b, const char *lang, msg_id m, const char *const *args,
           size_t n);
/* The number of messages, and message 'i' in English and French (tests). */
size_t msg_count(void);
void msg_pair(size_t i, const char **en, const char **fr);
/* A short device name from a User-Agent ("Firefox on Linux", "Safari on
 * iPhone"), or "Unknown device", into 'out' (truncated to 'size'). */
void ua_describe(const char *ua, const char *lang, char *out, size_t size);
/* Appends <time> with 'ms' relative to 'now' ("5 min ago", "in 2 h") and
 * the exact UTC time in its title and datetime. */
void sb_reltime(struct sbuf *b, const char *lang, int64_t ms, int64_t now);

#endif /* SHOP_MESSAGES_H */
