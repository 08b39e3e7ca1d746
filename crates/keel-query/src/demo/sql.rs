//! The demo schema and the dataset as SQL text for each engine.

use std::fmt::Write as _;

use super::data::Dataset;
use crate::calendar::format_timestamp;
use crate::config::Engine;

/// Rows per INSERT statement.
const BATCH: usize = 500;

const SQLITE_DDL: &str = "
CREATE TABLE customers (
    id           INTEGER PRIMARY KEY,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    email        TEXT NOT NULL UNIQUE,
    city         TEXT NOT NULL,
    country      TEXT NOT NULL,
    signed_up_at DATETIME NOT NULL,
    is_vip       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    in_stock    BOOLEAN NOT NULL
);
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    status      TEXT NOT NULL
                CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    ordered_at  DATETIME NOT NULL,
    total_cents INTEGER NOT NULL
);
CREATE TABLE order_items (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id),
    product_id       INTEGER NOT NULL REFERENCES products (id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL
);
";

const POSTGRES_DDL: &str = "
CREATE TABLE customers (
    id           integer PRIMARY KEY,
    first_name   text NOT NULL,
    last_name    text NOT NULL,
    email        text NOT NULL UNIQUE,
    city         text NOT NULL,
    country      char(2) NOT NULL,
    signed_up_at timestamptz NOT NULL,
    is_vip       boolean NOT NULL DEFAULT false
);
CREATE TABLE products (
    id          integer PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    category    text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0),
    in_stock    boolean NOT NULL
);
CREATE TABLE orders (
    id          integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    status      text NOT NULL
                CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    ordered_at  timestamptz NOT NULL,
    total_cents integer NOT NULL
);
CREATE TABLE order_items (
    id               integer PRIMARY KEY,
    order_id         integer NOT NULL REFERENCES orders (id),
    product_id       integer NOT NULL REFERENCES products (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents integer NOT NULL
);
";

/// Indexes and a view, valid in both engines.
const COMMON_DDL: &str = "
CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX orders_ordered_at ON orders (ordered_at);
CREATE INDEX order_items_order_id ON order_items (order_id);
CREATE INDEX order_items_product_id ON order_items (product_id);
CREATE VIEW customer_totals AS
SELECT c.id AS customer_id,
       c.first_name || ' ' || c.last_name AS name,
       count(o.id) AS orders,
       coalesce(sum(o.total_cents), 0) AS spent_cents
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id AND o.status NOT IN ('cancelled', 'refunded')
GROUP BY c.id, c.first_name, c.last_name;
";

/// Schema statements, as one script.
pub(super) fn schema(engine: Engine) -> String {
    let tables = match engine {
        Engine::Sqlite => SQLITE_DDL,
        Engine::Postgres => POSTGRES_DDL,
    };
    format!("{tables}{COMMON_DDL}")
}

/// INSERT statements for every row, `BATCH` rows each, parents before children.
pub(super) fn inserts(data: &Dataset, engine: Engine) -> Vec<String> {
    let ts = |secs: i64| {
        let text = format_timestamp(secs * 1_000_000).replacen('T', " ", 1);
        match engine {
            Engine::Sqlite => quote(&text),
            Engine::Postgres => quote(&format!("{text}+00")),
        }
    };
    let mut statements = Vec::new();
    batches(&mut statements, "customers", &data.customers, |c| {
        format!(
            "({}, {}, {}, {}, {}, {}, {}, {})",
            c.id,
            quote(c.first_name),
            quote(c.last_name),
            quote(&c.email),
            quote(c.city),
            quote(c.country),
            ts(c.signed_up_at),
            c.is_vip
        )
    });
    batches(&mut statements, "products", &data.products, |p| {
        format!(
            "({}, {}, {}, {}, {}, {})",
            p.id,
            quote(&p.sku),
            quote(&p.name),
            quote(p.category),
            p.price_cents,
            p.in_stock
        )
    });
    batches(&mut statements, "orders", &data.orders, |o| {
        format!(
            "({}, {}, {}, {}, {})",
            o.id,
            o.customer_id,
            quote(o.status),
            ts(o.ordered_at),
            o.total_cents
        )
    });
    batches(&mut statements, "order_items", &data.items, |i| {
        format!(
            "({}, {}, {}, {}, {})",
            i.id, i.order_id, i.product_id, i.quantity, i.unit_price_cents
        )
    });
    statements
}

fn batches<T>(out: &mut Vec<String>, table: &str, rows: &[T], row: impl Fn(&T) -> String) {
    for chunk in rows.chunks(BATCH) {
        let mut sql = format!("INSERT INTO {table} VALUES ");
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(",\n");
            }
            let _ = write!(sql, "{}", row(r));
        }
        out.push(sql);
    }
}

/// A SQL string literal; the dataset's own text is the only input.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
