#!/usr/bin/env python3
"""Writes src/actions/countries.rs from the tz database's own tables (iso3166.tab: country names;
zone.tab: each country's zones), so that "what time is it in Zimbabwe" is answered from the same
source chrono-tz is built from. Run after a tzdata update:

    python3 tools/countries.py /usr/share/zoneinfo > src/actions/countries.rs
"""
import collections
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/zoneinfo"
names = {}
for line in open(f"{root}/iso3166.tab", encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    code, name = line.rstrip("\n").split("\t")[:2]
    names[code] = name
zones = collections.defaultdict(list)
for line in open(f"{root}/zone.tab", encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    code, _, zone = line.rstrip("\n").split("\t")[:3]
    zones[code].append(zone)


def spoken(name):
    """'Korea (South)' → 'south korea'; 'Britain (UK)' → 'britain'; '&' → 'and'."""
    name = name.replace("&", "and").replace(".", "")
    if "(" in name:
        base, paren = name.split("(", 1)
        paren = paren.rstrip(")").strip()
        if paren in ("South", "North"):
            return f"{paren} {base.strip()}".lower()
        name = base
    return " ".join(name.lower().replace(",", " ").split())


print("//! Countries and the tz database zones they span, written by `tools/countries.py` from the")
print("//! tz database's `iso3166.tab` and `zone.tab`. Do not edit by hand.")
print()
print("/// A country's name as said (lower case) and its zones (first: the one `zone.tab` lists first).")
print("pub const COUNTRIES: &[(&str, &[&str])] = &[")
for code in sorted(names, key=lambda c: spoken(names[c])):
    if code not in zones:
        continue
    z = ", ".join(f'"{x}"' for x in zones[code])
    print(f'    ("{spoken(names[code])}", &[{z}]),')
print("];")
