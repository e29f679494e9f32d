"""The currencies an agency may keep its books in: active ISO 4217 codes with two minor units (cents)."""
from __future__ import annotations

# ISO 4217 List One as maintained by SIX (2025), only currencies whose minor unit is 2: every amount here is
# NUMERIC(14,2) and rounds to cents (shared_lib.money), so a zero-decimal currency (JPY, KRW, ISK…) or a
# three-decimal one (KWD, BHD, TND…) would be booked at a precision it does not have. Left out too: fund and
# accounting codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), metals, SDR and test codes (X..), and codes
# withdrawn from use (HRK → EUR 2023, SLL → SLE, CUC, ZWL → ZWG 2024). A code added to ISO 4217 is one line here.
CURRENCIES: frozenset[str] = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
    CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG
    YER ZAR ZMW ZWG
""".split())
