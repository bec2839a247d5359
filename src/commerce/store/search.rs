//! Catalog search: one query function, full-text ranking from PostgreSQL's
//! `tsvector`/`ts_rank` or SQLite's FTS5/`bm25`, the same filters on both.


use super::catalog::{product_from_row, ProductRow, PRODUCT_COLUMNS};
use crate::store::{Backend, Store, StoreResult};

#[derive(Debug, Default, Clone)]
pub struct SearchQuery {
    /// Free text; only letters and digits are used, every word must match (as a prefix).
    pub text: Option<String>,
    /// Products in this category or any of its descendants.
    pub category_id: Option<String>,
    pub shop_id: Option<String>,
    /// Some variant's price is within these bounds (minor units, inclusive).
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Some variant (within the price bounds) has available stock.
    pub in_stock: bool,
    pub offset: i64,
    pub limit: i64,
}

/// The words of a query, lower-cased, letters and digits only, at most 8.
pub fn search_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| w.to_lowercase().chars().take(40).collect())
        .collect()
}

enum Arg {
    Text(String),
    Int(i64),
}

struct Args(Vec<Arg>);

impl Args {
    fn push(&mut self, arg: Arg) -> String {
        self.0.push(arg);
        format!("${}", self.0.len())
    }
}

impl Store {
    /// Published products of active shops matching `q`, best match first (newest first without
    /// text), `limit + 1` rows from `offset`.
    pub async fn search_products(&self, q: &SearchQuery) -> StoreResult<Vec<ProductRow>> {
        let mut args = Args(Vec::new());
        let mut from = "products p".to_string();
        let mut conditions = vec!["p.status = 'published'".to_string(), "p.shop_id IN (SELECT id FROM shops WHERE status = 'active')".to_string()];
        let mut order = "p.id DESC".to_string();
        let terms = q.text.as_deref().map(search_terms).unwrap_or_default();
        if !terms.is_empty() {
            match self.backend() {
                Backend::Postgres => {
                    let tsquery = terms.iter().map(|t| format!("{t}:*")).collect::<Vec<_>>().join(" & ");
                    let n = args.push(Arg::Text(tsquery));
                    conditions.push(format!("p.search @@ to_tsquery('english', {n})"));
                    order = format!("ts_rank(p.search, to_tsquery('english', {n})) DESC, p.id DESC");
                }
                Backend::Sqlite => {
                    let fts = terms.iter().map(|t| format!("\"{t}\"*")).collect::<Vec<_>>().join(" ");
                    let n = args.push(Arg::Text(fts));
                    from = "products_fts JOIN products p ON p.rowid = products_fts.rowid".into();
                    conditions.push(format!("products_fts MATCH {n}"));
                    // bm25: lower is better; title weighs ten times the description.
                    order = "bm25(products_fts, 10.0, 1.0), p.id DESC".into();
                }
            }
        }
        if let Some(shop) = &q.shop_id {
            let n = args.push(Arg::Text(shop.clone()));
            conditions.push(format!("p.shop_id = {n}"));
        }
        if let Some(category) = &q.category_id {
            let n = args.push(Arg::Text(category.clone()));
            conditions.push(format!(
                "p.category_id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM categories WHERE id = {n} \
                 UNION ALL SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)"
            ));
        }
        if q.min_price.is_some() || q.max_price.is_some() || q.in_stock {
            let mut variant_conditions = vec!["v.product_id = p.id".to_string()];
            if let Some(min) = q.min_price {
                variant_conditions.push(format!("v.price >= {}", args.push(Arg::Int(min))));
            }
            if let Some(max) = q.max_price {
                variant_conditions.push(format!("v.price <= {}", args.push(Arg::Int(max))));
            }
            if q.in_stock {
                variant_conditions.push("v.available > 0".into());
            }
            conditions.push(format!("EXISTS (SELECT 1 FROM variants v WHERE {})", variant_conditions.join(" AND ")));
        }
        let limit = args.push(Arg::Int(q.limit + 1));
        let offset = args.push(Arg::Int(q.offset));
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM {from} WHERE {} ORDER BY {order} LIMIT {limit} OFFSET {offset}", conditions.join(" AND "));
        let mut query = sqlx::query(&sql);
        for arg in args.0 {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter().map(product_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_drop_query_syntax() {
        assert_eq!(search_terms("Red \"shoes\" OR* (x)"), vec!["red", "shoes", "or", "x"]);
        assert!(search_terms("&|!:*").is_empty());
    }
}
