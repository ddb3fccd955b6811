"""Invented names and places for the demo customers (no faker dependency).

E-mail addresses use the reserved ``example.*`` domains, so no generated
address can belong to a real person.
"""

from __future__ import annotations

FIRST_EN = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Margaret", "Paul", "Sandra",
    "Steven", "Ashley", "Andrew", "Emily", "Joshua", "Donna", "Kevin", "Michelle", "Brian", "Olivia",
    "George", "Sophie", "Oliver", "Amelia", "Harry", "Isla", "Jack", "Chloe", "Noah", "Grace",
    "Liam", "Hannah", "Lukas", "Lena", "Pierre", "Camille", "Sean", "Aoife", "Lars", "Femke",
)
LAST_EN = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts",
    "Evans", "Murphy", "Kelly", "Walsh", "Byrne", "Schmidt", "Muller", "Weber", "Dubois", "Laurent",
    "de Vries", "Jansen", "Bakker", "Hughes", "Price", "Bennett", "Wood", "Barnes", "Ross", "Cooper",
)
# (characters, pinyin) pairs
SURNAME_ZH = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
    ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
    ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
    ("罗", "Luo"), ("高", "Gao"),
)
GIVEN_ZH = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("丽", "Li"),
    ("强", "Qiang"), ("磊", "Lei"), ("洋", "Yang"), ("艳", "Yan"), ("勇", "Yong"), ("军", "Jun"),
    ("杰", "Jie"), ("娟", "Juan"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"), ("秀英", "Xiuying"),
    ("慧", "Hui"), ("婷", "Ting"), ("浩然", "Haoran"), ("子涵", "Zihan"), ("欣怡", "Xinyi"), ("宇轩", "Yuxuan"),
)
# (country, calling code, cities); English-speaking customers first, then Chinese-speaking
COUNTRIES_EN = (
    ("United States", "1", ("New York", "Los Angeles", "Chicago", "Houston", "Seattle", "Boston")),
    ("United Kingdom", "44", ("London", "Manchester", "Birmingham", "Leeds", "Glasgow")),
    ("Canada", "1", ("Toronto", "Vancouver", "Montreal")),
    ("Australia", "61", ("Sydney", "Melbourne", "Brisbane")),
    ("Germany", "49", ("Berlin", "Munich", "Hamburg")),
    ("France", "33", ("Paris", "Lyon", "Marseille")),
    ("Ireland", "353", ("Dublin", "Cork")),
    ("Netherlands", "31", ("Amsterdam", "Rotterdam", "Utrecht")),
)
COUNTRY_WEIGHTS_EN = (0.38, 0.22, 0.08, 0.08, 0.08, 0.06, 0.05, 0.05)
COUNTRIES_ZH = (
    ("China", "86", ("Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu")),
    ("Taiwan", "886", ("Taipei", "Kaohsiung")),
    ("Hong Kong", "852", ("Hong Kong",)),
    ("Singapore", "65", ("Singapore",)),
)
COUNTRY_WEIGHTS_ZH = (0.6, 0.15, 0.12, 0.13)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
ZH_SHARE = 0.25  # customers who write in Chinese
