//! The demo retail dataset, generated from a fixed seed so every fresh database holds the
//! same rows.

use super::catalog::{CATALOG, CITIES, EDITIONS, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES};
use crate::calendar::days_from_civil;

/// Customers in the dataset.
pub(crate) const CUSTOMERS: usize = 500;
/// Orders in the dataset.
pub(crate) const ORDERS: usize = 2_000;

pub(crate) struct Customer {
    pub(crate) id: i64,
    pub(crate) first_name: &'static str,
    pub(crate) last_name: &'static str,
    pub(crate) email: String,
    pub(crate) city: &'static str,
    pub(crate) country: &'static str,
    /// Seconds since 1970-01-01 UTC.
    pub(crate) signed_up_at: i64,
    pub(crate) is_vip: bool,
}

pub(crate) struct Product {
    pub(crate) id: i64,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) category: &'static str,
    pub(crate) price_cents: i64,
    pub(crate) in_stock: bool,
}

pub(crate) struct Order {
    pub(crate) id: i64,
    pub(crate) customer_id: i64,
    pub(crate) status: &'static str,
    /// Seconds since 1970-01-01 UTC.
    pub(crate) ordered_at: i64,
    pub(crate) total_cents: i64,
}

pub(crate) struct OrderItem {
    pub(crate) id: i64,
    pub(crate) order_id: i64,
    pub(crate) product_id: i64,
    pub(crate) quantity: i64,
    pub(crate) unit_price_cents: i64,
}

pub(crate) struct Dataset {
    pub(crate) customers: Vec<Customer>,
    pub(crate) products: Vec<Product>,
    pub(crate) orders: Vec<Order>,
    pub(crate) items: Vec<OrderItem>,
}

/// SplitMix64: tiny, fast, and stable across releases, unlike a library RNG's stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, len: usize) -> usize {
        // `len` is a slice length, far below u64::MAX; the result is below `len`.
        self.below(len as u64) as usize
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }
}

fn epoch_seconds(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400
}

fn email_part(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'é' => Some('e'),
            'á' => Some('a'),
            'í' => Some('i'),
            'ü' => Some('u'),
            'ã' => Some('a'),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Builds the dataset; the same call always returns the same rows.
pub(crate) fn generate() -> Dataset {
    let mut rng = Rng(0x6B65_656C_2D64_656D); // "keel-dem"
    let first_signup = epoch_seconds(2022, 1, 1);
    let last_signup = epoch_seconds(2024, 7, 1);
    let period_end = epoch_seconds(2025, 1, 1);

    let customers: Vec<Customer> = (1..=CUSTOMERS as i64)
        .map(|id| {
            let first_name = rng.pick(FIRST_NAMES);
            let last_name = rng.pick(LAST_NAMES);
            let (city, country) = rng.pick(CITIES);
            let domain = rng.pick(EMAIL_DOMAINS);
            Customer {
                id,
                first_name,
                last_name,
                email: format!(
                    "{}.{}{id}@{domain}",
                    email_part(first_name),
                    email_part(last_name)
                ),
                city,
                country,
                signed_up_at: rng.range(first_signup, last_signup),
                is_vip: rng.chance(8),
            }
        })
        .collect();

    let mut products = Vec::new();
    for (category, prefix, items) in CATALOG {
        for (item, base) in *items {
            for (edition, percent) in EDITIONS {
                let id = products.len() as i64 + 1;
                // Round to a .99 price point.
                let price_cents = (base * percent / 100 / 100).max(1) * 100 - 1;
                products.push(Product {
                    id,
                    sku: format!("{prefix}-{id:04}"),
                    name: format!("{edition} {item}"),
                    category,
                    price_cents,
                    in_stock: rng.chance(88),
                });
            }
        }
    }

    let mut orders = Vec::with_capacity(ORDERS);
    let mut items = Vec::with_capacity(ORDERS * 3);
    for id in 1..=ORDERS as i64 {
        // Squaring skews orders toward a core of repeat customers.
        let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
        let customer = &customers[((u * u) * CUSTOMERS as f64) as usize];
        let ordered_at = rng.range(customer.signed_up_at, period_end);
        let age_days = (period_end - ordered_at) / 86_400;
        let roll = rng.below(100);
        let status = match age_days {
            0..=2 => ["pending", "paid"][usize::from(roll >= 40)],
            3..=9 if roll < 70 => "shipped",
            3..=9 => "paid",
            _ if roll < 86 => "delivered",
            _ if roll < 94 => "cancelled",
            _ if roll < 98 => "refunded",
            _ => "shipped",
        };
        let mut total_cents = 0;
        let lines = 1 + rng.below(4) as usize;
        let mut chosen: Vec<i64> = Vec::with_capacity(lines);
        while chosen.len() < lines {
            let product = &products[rng.index(products.len())];
            if chosen.contains(&product.id) {
                continue;
            }
            chosen.push(product.id);
            let quantity = if rng.chance(75) { 1 } else { rng.range(2, 5) };
            // Some lines were bought during a 15% sale.
            let unit_price_cents = if rng.chance(12) {
                product.price_cents * 85 / 100
            } else {
                product.price_cents
            };
            total_cents += quantity * unit_price_cents;
            items.push(OrderItem {
                id: items.len() as i64 + 1,
                order_id: id,
                product_id: product.id,
                quantity,
                unit_price_cents,
            });
        }
        orders.push(Order {
            id,
            customer_id: customer.id,
            status,
            ordered_at,
            total_cents,
        });
    }
    // Orders are numbered in time order, as a real shop would number them.
    orders.sort_by_key(|o| o.ordered_at);
    let renumber: Vec<i64> = {
        let mut map = vec![0; ORDERS + 1];
        for (i, order) in orders.iter().enumerate() {
            map[order.id as usize] = i as i64 + 1;
        }
        map
    };
    for order in &mut orders {
        order.id = renumber[order.id as usize];
    }
    for item in &mut items {
        item.order_id = renumber[item.order_id as usize];
    }
    items.sort_by_key(|i| (i.order_id, i.id));
    for (i, item) in items.iter_mut().enumerate() {
        item.id = i as i64 + 1;
    }

    Dataset {
        customers,
        products,
        orders,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_is_deterministic_and_consistent() {
        let a = generate();
        let b = generate();
        assert_eq!(a.customers.len(), CUSTOMERS);
        assert_eq!(a.products.len(), 120);
        assert_eq!(a.orders.len(), ORDERS);
        assert!(a.items.len() > 4_000, "{}", a.items.len());
        assert_eq!(a.items.len(), b.items.len());
        assert!(
            a.orders
                .iter()
                .zip(&b.orders)
                .all(|(x, y)| x.total_cents == y.total_cents)
        );

        let mut emails: Vec<&str> = a.customers.iter().map(|c| c.email.as_str()).collect();
        emails.sort_unstable();
        emails.dedup();
        assert_eq!(emails.len(), CUSTOMERS);

        for order in &a.orders {
            let sum: i64 = a
                .items
                .iter()
                .filter(|i| i.order_id == order.id)
                .map(|i| i.quantity * i.unit_price_cents)
                .sum();
            assert_eq!(sum, order.total_cents);
            let customer = &a.customers[order.customer_id as usize - 1];
            assert!(order.ordered_at >= customer.signed_up_at);
        }
        assert!(
            a.orders
                .windows(2)
                .all(|w| w[0].ordered_at <= w[1].ordered_at)
        );
        assert!(a.products.iter().all(|p| p.price_cents % 100 == 99));
    }
}
