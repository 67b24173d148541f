import json
from bench import capacity, cost
orig = capacity._charge
log = []
def charge(meter, table_key, units, index_units):
    log.append((json.loads(table_key[1])["pk"]["S"].split("#")[0], units, index_units))
    orig(meter, table_key, units, index_units)
capacity._charge = charge
orig_write = capacity._write
def write(meter, original, client, operation, params):
    before = len(log)
    r = orig_write(meter, original, client, operation, params)
    if meter.active:
        kinds = [list(a)[0] for a in params.get("TransactItems", [])] or [operation]
        print(operation, kinds, log[before:], file=__import__("sys").stderr)
    return r
capacity._write = write
orig_images = capacity._images
def images(meter, original, client, actions):
    imgs = orig_images(meter, original, client, actions)
    if meter.active:
        print("   sizes", [(cost.item_size(i) if i else None) for i in imgs], file=__import__("sys").stderr)
    return imgs
capacity._images = images
from bench import card_cost
m = card_cost.measure(2)
