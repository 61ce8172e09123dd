/*
 * catalog.c — sessio-shop's small fixed catalogue (SKUs, names, prices in
 * cents), with names and blurbs in French for the pages. The HTML pages
 * sell only these; the JSON API accepts any SKU so that load drivers can
 * use their own.
 */
#include <string.h>

#include "shop.h"

const product catalog[] = {
    {"A1", "Espresso cup",
     "Thick-walled porcelain, 80 ml. Keeps a double warm.", 850,
     "Tasse à espresso",
     "Porcelaine épaisse, 80 ml. Garde un double au chaud."},
    {"A2", "Pour-over kettle", "Gooseneck, 1 litre, for a slow and even pour.",
     3900, "Bouilloire à col de cygne",
     "Bec fin, 1 litre, pour verser lentement et régulièrement."},
    {"B1", "Ceramic dripper", "Single-cup cone with spiral ribs.", 2400,
     "Dripper en céramique", "Cône pour une tasse, à nervures en spirale."},
    {"B2", "Paper filters", "Size 02, unbleached, a box of 100.", 550,
     "Filtres en papier", "Taille 02, non blanchis, boîte de 100."},
    {"C1", "Single-origin beans", "250 g, washed Ethiopian, roasted this week.",
     1400, "Grains d’origine unique",
     "250 g, Éthiopie lavé, torréfié cette semaine."},
    {"C2", "Hand grinder", "Steel burrs, 40 click settings.", 5900,
     "Moulin manuel", "Meules en acier, 40 crans de réglage."},
};
const size_t catalog_len = sizeof catalog / sizeof catalog[0];

const product *catalog_find(const char *sku) {
  for (size_t i = 0; i < catalog_len; i++)
    if (strcmp(catalog[i].sku, sku) == 0) return &catalog[i];
  return NULL;
}

const char *product_name(const product *p, const char *lang) {
  return strcmp(lang, "fr") == 0 ? p->name_fr : p->name;
}

const char *product_blurb(const product *p, const char *lang) {
  return strcmp(lang, "fr") == 0 ? p->blurb_fr : p->blurb;
}
