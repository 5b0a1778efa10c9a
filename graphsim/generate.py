"""Realistic, varied generated users (deterministic for a given seed)."""

from __future__ import annotations

import random
import unicodedata

FIRST_NAMES = (
    "Adele Alex Allan Amara Ana Anouk Astrid Ayumi Bao Bianca Björn Carlos Chidi Chloé Daan "
    "Dagmar Diego Dmitri Elif Emma Esther Fatima Femke Finn François Grace Hamid Hana Hugo "
    "Ines Isabel Ivan Jasper Javier Jin Johanna José Julia Kai Karim Katarzyna Kenji Lars "
    "Laura Leila Lena Liam Lucía Luka Maaike Malik Marta Mateo Mei Mia Miguel Mohammed Nadia "
    "Naomi Nils Noah Nora Olga Omar Oscar Pablo Pia Priya Rafael Raj Rosa Ruben Saanvi Sami "
    "Sara Sebastian Sofia Søren Sven Tariq Thijs Tomás Uma Valentina Wei Willem Yara Yusuf "
    "Zainab Zoë Megan Patti Lidia Lynne Nestor Pradeep Isaiah Joni Diego Grady Henrietta"
).split()
LAST_NAMES = (
    "Vance Wilber Bakker Jansen de Vries van Dijk Smit Meijer Müller Schmidt García "
    "Fernández López Martínez Rossi Russo Bianchi Dubois Lefèvre Moreau Nowak Kowalski "
    "Novák Horváth Popescu Ivanova Petrov Nielsen Hansen Johansson Andersson Virtanen "
    "O'Brien Murphy Kelly Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor "
    "Thomas Moore Martin Lee Kim Park Chen Wang Li Zhang Liu Nguyen Tran Pham Tanaka Suzuki "
    "Sato Singh Patel Sharma Gupta Khan Ahmed Hassan Ali Okafor Mensah Diallo Mbeki Silva "
    "Santos Oliveira Costa Pereira Rodrigues Cohen Levi Yilmaz Kaya Demir Haddad Nasser "
    "Sørensen Åberg Lindqvist Holt Adams Campbell Sanchez Rivera Torres Ramirez"
).split()
JOBS = {
    "Sales": ("Account Executive", "Sales Manager", "Inside Sales Representative"),
    "Marketing": ("Product Marketing Manager", "Content Strategist", "Marketing Assistant"),
    "Engineering": ("Software Engineer", "Senior Developer", "QA Engineer", "Architect"),
    "Finance": ("Accountant", "Financial Controller", "Payroll Specialist"),
    "Human Resources": ("HR Advisor", "Recruiter", "HR Manager"),
    "Operations": ("Operations Manager", "Logistics Coordinator", "Facilities Officer"),
    "IT": ("Service Desk Analyst", "System Administrator", "IT Manager"),
    "Legal": ("Legal Counsel", "Paralegal"),
    "Support": ("Support Engineer", "Customer Success Manager"),
}
PLACES = (
    ("Amsterdam", "Netherlands", "NL", "nl-NL", "+31 20"),
    ("Utrecht", "Netherlands", "NL", "nl-NL", "+31 30"),
    ("Berlin", "Germany", "DE", "de-DE", "+49 30"),
    ("Paris", "France", "FR", "fr-FR", "+33 1"),
    ("Madrid", "Spain", "ES", "es-ES", "+34 91"),
    ("London", "United Kingdom", "GB", "en-GB", "+44 20"),
    ("Seattle", "United States", "US", "en-US", "+1 425"),
    ("Warsaw", "Poland", "PL", "pl-PL", "+48 22"),
    ("Stockholm", "Sweden", "SE", "sv-SE", "+46 8"),
    ("Dublin", "Ireland", "IE", "en-IE", "+353 1"),
)


def ascii_alias(text: str) -> str:
    """UPNs may not contain accents or spaces: Chloé O'Brien -> chloe.obrien."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    folded = folded.replace("ø", "o").replace("Ø", "O")
    return "".join(c for c in folded.lower() if c.isalnum() or c in ".-")


def generated_users(count: int, domain: str, seed: int, company: str) -> list[dict]:
    rng = random.Random(seed)
    taken: set[str] = set()
    users = []
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        department = rng.choice(list(JOBS))
        city, country, usage, language, prefix = rng.choice(PLACES)
        alias = f"{ascii_alias(first)}.{ascii_alias(last.replace(' ', ''))}"
        candidate, n = alias, 1
        while candidate in taken:
            n += 1
            candidate = f"{alias}{n}"
        taken.add(candidate)
        users.append(
            {
                "accountEnabled": rng.random() > 0.03,
                "displayName": f"{first} {last}",
                "givenName": first,
                "surname": last,
                "userPrincipalName": f"{candidate}@{domain}",
                "mailNickname": candidate,
                "jobTitle": rng.choice(JOBS[department]),
                "department": department,
                "companyName": company,
                "city": city,
                "country": country,
                "usageLocation": usage if rng.random() > 0.1 else None,
                "preferredLanguage": language,
                "officeLocation": f"{rng.randint(1, 40)}/{rng.randint(1000, 3999)}",
                "mobilePhone": f"{prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
                if rng.random() > 0.3
                else None,
                "businessPhones": [f"{prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"]
                if rng.random() > 0.5
                else [],
                "employeeId": f"E{100000 + index}",
            }
        )
    return users


GROUP_NAMES = (
    "Sales Team",
    "Marketing",
    "Engineering",
    "Finance",
    "All Staff",
    "Managers",
    "VPN Users",
    "Project Phoenix",
    "Office Amsterdam",
    "Support Rota",
    "Interns",
    "Security Champions",
    "Printer Admins",
    "Board",
    "Works Council",
)
