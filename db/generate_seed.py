"""Generate db/seed.sql: the cafe schema plus about 60 days of orders dated relative to load day."""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

SEED_PATH = Path(__file__).resolve().parent / "seed.sql"
RNG_SEED = 20240607
DAYS = 60
BATCH_ROWS = 250

# Offsets counted back from the load day; the pattern repeats every 7 offsets, so the "weekday"
# is relative to the load day, which keeps the SQL text independent of the calendar.
WEEKLY_CLOSING_OFFSET = 6
WEEKDAY_FACTOR = (1.0, 0.9, 0.8, 0.85, 1.0, 1.35, 0.0)  # indexed by offset % 7
BASE_ORDERS_PER_DAY = 9

# Opening hours 07:00-18:59 UTC: a breakfast peak, a lunch peak, a quiet afternoon.
HOUR_WEIGHTS = {
    7: 7,
    8: 11,
    9: 8,
    10: 4,
    11: 5,
    12: 10,
    13: 8,
    14: 3,
    15: 3,
    16: 3,
    17: 2,
    18: 1,
}
ITEM_COUNT_WEIGHTS = {1: 45, 2: 33, 3: 15, 4: 7}
QUANTITY_WEIGHTS = {1: 80, 2: 15, 3: 5}
LUNCH_HOURS = range(11, 15)


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    description: str
    price: Decimal
    group: int
    popularity: int  # 0: never sold


PRODUCT_GROUPS = (
    (1, "Pastries"),
    (2, "Drinks"),
    (3, "Sandwiches & Savouries"),
)

PRODUCTS = (
    # The original lab's nine, with its prices.
    Product(
        1, "Croissant", "Flaky all-butter croissant, baked every morning", Decimal("1.50"), 1, 9
    ),
    Product(2, "Donut", "Ring donut with a sugar glaze", Decimal("1.00"), 1, 6),
    Product(
        3, "Chocolate Chip Cookie", "Chewy cookie with dark chocolate chips", Decimal("2.50"), 1, 5
    ),
    Product(4, "Muffin", "Blueberry muffin with a crumble top", Decimal("3.00"), 1, 6),
    Product(
        5,
        "Strawberry Blueberry Tart",
        "Shortcrust tart with vanilla cream, strawberries and blueberries",
        Decimal("3.50"),
        1,
        3,
    ),
    Product(
        6,
        "Strawberry Tart",
        "Shortcrust tart with vanilla cream and strawberries",
        Decimal("3.50"),
        1,
        3,
    ),
    Product(7, "Coffee", "Filter coffee, refills on request", Decimal("3.00"), 2, 14),
    Product(8, "Hot Chocolate", "Steamed milk with melted dark chocolate", Decimal("3.00"), 2, 5),
    Product(9, "Latte", "Double espresso with steamed milk", Decimal("3.50"), 2, 11),
    # Ours.
    Product(
        10,
        "Cinnamon Roll",
        "Soft yeasted roll with cinnamon sugar and icing",
        Decimal("3.25"),
        1,
        4,
    ),
    Product(
        11,
        "Almond Croissant",
        "Croissant filled with almond cream, topped with flakes",
        Decimal("2.75"),
        1,
        4,
    ),
    Product(12, "Espresso", "A single shot of our house blend", Decimal("2.25"), 2, 6),
    Product(13, "Cappuccino", "Espresso with a deep layer of milk foam", Decimal("3.25"), 2, 8),
    Product(14, "Chai Latte", "Spiced black tea with steamed milk", Decimal("3.75"), 2, 4),
    Product(
        15, "Pumpkin Spice Latte", "Seasonal: back on the menu in the autumn", Decimal("4.25"), 2, 0
    ),
    Product(
        16, "Cheese Scone", "Savoury scone with mature cheddar, served warm", Decimal("2.75"), 3, 3
    ),
    Product(
        17,
        "Quiche Lorraine",
        "Slice of egg and bacon quiche with a side salad",
        Decimal("5.50"),
        3,
        4,
    ),
    Product(18, "Tomato Basil Soup", "Bowl of soup with a sourdough roll", Decimal("4.75"), 3, 4),
    Product(
        19,
        "Avocado Toast",
        "Sourdough toast, smashed avocado, chilli and lime",
        Decimal("6.50"),
        3,
        4,
    ),
    Product(
        20,
        "Roast Chicken, Pesto & Mozzarella Panini",
        "Toasted panini with roast chicken, basil pesto and mozzarella",
        Decimal("7.95"),
        3,
        3,
    ),
)

PRODUCTS_BY_ID = {product.id: product for product in PRODUCTS}

HEADER = f"""\
-- Cafe sales database: schema and sample data for development, tests and demos.
--
-- GENERATED FILE, do not edit by hand. Regenerate with:
--     python db/generate_seed.py > db/seed.sql
-- and check it is current with: python db/generate_seed.py --check
--
-- Orders cover the {DAYS} days up to and including the day the file is loaded:
-- every order is dated relative to CURDATE() at load time, so "today" and
-- "yesterday" always have sales. Offsets where offset % 7 = {WEEKLY_CLOSING_OFFSET} are the weekly
-- closing day and have no orders.
--
-- Loads unchanged into MySQL 8.4 and MariaDB 10.11, into whatever database is
-- current (it creates no database and selects none).
--
-- The session time zone is UTC so that CURDATE() is the UTC date and the
-- timestamp literals below are UTC: the opening hours (07:00 to 18:59) are UTC,
-- which matches the default REPORT_TIMEZONE.
"""

SCHEMA = """\
SET time_zone = '+00:00';
-- Read the date once, so a load that runs across midnight still dates every order alike.
SET @load_day = CURDATE();

DROP TABLE IF EXISTS order_item;
DROP TABLE IF EXISTS `order`;
DROP TABLE IF EXISTS product;
DROP TABLE IF EXISTS product_group;

CREATE TABLE product_group (
  product_group_number INT NOT NULL,
  product_group_name VARCHAR(25) NOT NULL DEFAULT '',
  PRIMARY KEY (product_group_number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE product (
  id INT NOT NULL AUTO_INCREMENT,
  product_name VARCHAR(40) NOT NULL DEFAULT '',
  description VARCHAR(200) NOT NULL DEFAULT '',
  price DECIMAL(10,2) NOT NULL DEFAULT 0.0,
  product_group INT NOT NULL DEFAULT 1,
  image_url VARCHAR(256) DEFAULT 'images/default-image.jpg',
  PRIMARY KEY (id),
  CONSTRAINT fk_product_product_group FOREIGN KEY (product_group)
    REFERENCES product_group (product_group_number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE `order` (
  order_number INT NOT NULL AUTO_INCREMENT,
  order_date_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  amount DECIMAL(10,2) NOT NULL DEFAULT 0.0,
  PRIMARY KEY (order_number),
  INDEX idx_order_date_time (order_date_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE order_item (
  order_number INT NOT NULL,
  order_item_number INT NOT NULL,
  product_id INT,
  quantity INT,
  amount DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (order_number, order_item_number),
  CONSTRAINT fk_order_item_order FOREIGN KEY (order_number) REFERENCES `order` (order_number),
  CONSTRAINT fk_order_item_product FOREIGN KEY (product_id) REFERENCES product (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
"""


@dataclass(frozen=True)
class Item:
    product: Product
    quantity: int

    @property
    def amount(self) -> Decimal:
        return self.product.price * self.quantity


@dataclass(frozen=True)
class Order:
    offset: int
    time: str
    items: tuple[Item, ...]

    @property
    def amount(self) -> Decimal:
        return sum((item.amount for item in self.items), Decimal("0.00"))


def sql_string(value: str) -> str:
    """Return value as a single-quoted SQL literal; reject what would not be portable."""
    if "\\" in value or not value.isascii():
        raise ValueError(f"keep seed strings plain ASCII without backslashes: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def weighted(rng: random.Random, weights: dict[int, int]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def pick_items(rng: random.Random, hour: int) -> tuple[Item, ...]:
    """Return 1-4 items of distinct products; savouries sell mostly around lunch."""
    pool = {}
    for product in PRODUCTS:
        weight = product.popularity
        if product.group == 3 and hour not in LUNCH_HOURS:
            weight = weight // 3
        if weight > 0:
            pool[product.id] = weight
    items = []
    for _ in range(min(weighted(rng, ITEM_COUNT_WEIGHTS), len(pool))):
        product_id = weighted(rng, pool)
        del pool[product_id]
        items.append(Item(PRODUCTS_BY_ID[product_id], weighted(rng, QUANTITY_WEIGHTS)))
    return tuple(items)


def day_orders(rng: random.Random, offset: int) -> list[Order]:
    """Return the orders of the day `offset` days before the load day, in time order."""
    if offset % 7 == WEEKLY_CLOSING_OFFSET:
        return []
    factor = WEEKDAY_FACTOR[offset % 7]
    count = max(3, round(BASE_ORDERS_PER_DAY * factor * rng.uniform(0.7, 1.3)))
    times: set[str] = set()
    while len(times) < count:
        hour = weighted(rng, HOUR_WEIGHTS)
        times.add(f"{hour:02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}")
    return [Order(offset, time, pick_items(rng, int(time[:2]))) for time in sorted(times)]


def generate_orders() -> list[Order]:
    rng = random.Random(RNG_SEED)  # noqa: S311 - sample data, determinism is the point
    orders = []
    for offset in range(DAYS - 1, -1, -1):
        orders.extend(day_orders(rng, offset))
    return orders


def insert_statements(table: str, columns: str, rows: list[str]) -> list[str]:
    statements = []
    for start in range(0, len(rows), BATCH_ROWS):
        batch = ",\n".join(rows[start : start + BATCH_ROWS])
        statements.append(f"INSERT INTO {table} ({columns}) VALUES\n{batch};\n")
    return statements


def render() -> str:
    """Return the full text of db/seed.sql."""
    groups = [f"({number}, {sql_string(name)})" for number, name in PRODUCT_GROUPS]
    products = [
        f"({p.id}, {sql_string(p.name)}, {sql_string(p.description)}, {p.price}, {p.group})"
        for p in PRODUCTS
    ]
    orders = generate_orders()
    order_rows = []
    item_rows = []
    for number, order in enumerate(orders, start=1):
        order_rows.append(
            f"({number}, TIMESTAMP(@load_day - INTERVAL {order.offset} DAY, '{order.time}'), "
            f"{order.amount})"
        )
        for item_number, item in enumerate(order.items, start=1):
            item_rows.append(
                f"({number}, {item_number}, {item.product.id}, {item.quantity}, {item.amount})"
            )
    parts = [
        HEADER,
        SCHEMA,
        *insert_statements("product_group", "product_group_number, product_group_name", groups),
        *insert_statements(
            "product", "id, product_name, description, price, product_group", products
        ),
        *insert_statements("`order`", "order_number, order_date_time, amount", order_rows),
        *insert_statements(
            "order_item", "order_number, order_item_number, product_id, quantity, amount", item_rows
        ),
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the seed file differs from what this script generates",
    )
    parser.add_argument(
        "--seed-file", type=Path, default=SEED_PATH, help="file --check compares (db/seed.sql)"
    )
    args = parser.parse_args(argv)
    text = render()
    if not args.check:
        sys.stdout.write(text)
        return 0
    try:
        current = args.seed_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current != text:
        print(
            f"{args.seed_file} is out of date: run python db/generate_seed.py > db/seed.sql",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
