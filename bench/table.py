"""Turn bench/run.sh's results.tsv into the README's markdown table.

Each figure is the median over the rounds with its range; the ratios to
granian are taken within each round (warp and granian ran a minute apart,
under the same load from elsewhere) and their median is shown."""
import statistics
import sys
from collections import defaultdict

FIELDS = ("rps", "p99", "rss", "cpu", "cs")
rows = defaultdict(lambda: defaultdict(dict))  # (app, setting, server) -> field -> round -> value
order = []
for line in open(sys.argv[1]):
    cols = line.rstrip("\n").split("\t")
    if len(cols) < 9:
        continue
    rnd, app, setting, server = cols[:4]
    key = (app, setting, server)
    if key not in rows:
        order.append(key)
    for name, text in zip(FIELDS, cols[4:9]):
        try:
            rows[key][name][rnd] = float(text)
        except ValueError:
            pass


def summary(values, fmt):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " [" + fmt + "–" + fmt + "]") % (med, min(values), max(values))


def ratio(key, field):
    app, setting, _ = key
    ref = rows.get((app, setting, "granian"), {}).get(field, {})
    mine = rows[key].get(field, {})
    per_round = [mine[r] / ref[r] for r in mine if r in ref and ref[r] > 0]
    return "%.2f×" % statistics.median(per_round) if per_round else "-"


print("| app | setting | server | req/s | p99 ms | RSS MiB | CPU µs/req | cs/req "
      "| req/s vs granian | p99 vs granian | RSS vs granian |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for key in order:
    f = rows[key]
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        *key,
        summary(list(f["rps"].values()), "%.0f"),
        summary(list(f["p99"].values()), "%.2f"),
        summary([v / 1024 for v in f["rss"].values()], "%.1f"),
        summary(list(f["cpu"].values()), "%.1f"),
        summary(list(f["cs"].values()), "%.2f"),
        ratio(key, "rps"), ratio(key, "p99"), ratio(key, "rss")))
