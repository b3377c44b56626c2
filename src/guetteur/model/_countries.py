"""Releasability groups: which ISO 3166 alpha-3 codes a group name stands for.

Pure data. Kept in model/ because the canonical printed form of a marking
folds a full group back into its name ("REL TO NATO", not 32 codes).
"""

from __future__ import annotations

__all__ = ["GROUPS", "ISO_ALPHA3", "expand_releasability"]

# Member states as of 2024 (Sweden joined NATO on 2024-03-07).
NATO = frozenset(
    "ALB BEL BGR CAN HRV CZE DNK EST FIN FRA DEU GRC HUN ISL ITA LVA LTU LUX MNE "
    "NLD MKD NOR POL PRT ROU SVK SVN ESP SWE TUR GBR USA".split()
)
EU = frozenset(
    "AUT BEL BGR HRV CYP CZE DNK EST FIN FRA DEU GRC HUN IRL ITA LVA LTU LUX MLT "
    "NLD POL PRT ROU SVK SVN ESP SWE".split()
)
FVEY = frozenset("AUS CAN GBR NZL USA".split())

# Order matters for printing: the first group wholly contained is folded first.
GROUPS: dict[str, frozenset[str]] = {"NATO": NATO, "EU": EU, "FVEY": FVEY}


def expand_releasability(tokens: frozenset[str] | set[str]) -> frozenset[str]:
    """Country codes that a set of codes and group names stands for."""
    countries: set[str] = set()
    for token in tokens:
        countries |= GROUPS.get(token, {token})
    return frozenset(countries)


# ISO 3166-1 alpha-3, officially assigned codes. A REL TO naming anything else
# is refused at parse time: a typo ("FRE") would otherwise hide a document
# from the very nation it was meant for.
ISO_ALPHA3 = frozenset(
    """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN
    BES BFA BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN
    CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU
    DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR
    GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV
    HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM
    KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA
    MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM
    NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL
    PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE
    SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK
    TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB
    VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
    """.split()
)
