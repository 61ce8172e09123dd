/*
 * catalog.c — sessio-shop's small fixed catalogue (SKUs, names, prices in
 * cents). The HTML pages sell only these; the JSON API accepts any SKU so
 * that load drivers can use their own.
 */
#include <string.h>

#include "shop.h"

const product catalog[] = {
    {"A1", "Espresso cup", "Thick-walled porcelain, 80 ml. Keeps a double warm.", 850},
    {"A2", "Pour-over kettle", "Gooseneck, 1 litre, for a slow and even pour.", 3900},
    {"B1", "Ceramic dripper", "Single-cup cone with spiral ribs.", 2400},
    {"B2", "Paper filters", "Size 02, unbleached, a box of 100.", 550},
    {"C1", "Single-origin beans", "250 g, washed Ethiopian, roasted this week.", 1400},
    {"C2", "Hand grinder", "Steel burrs, 40 click settings.", 5900},
};
const size_t catalog_len = sizeof catalog / sizeof catalog[0];

const product *catalog_find(const char *sku) {
  for (size_t i = 0; i < catalog_len; i++)
    if (strcmp(catalog[i].sku, sku) == 0)
      return &catalog[i];
  return NULL;
}
