//! Catalog: categories, products, variants, publishing and search. Sellers
//! write under `/api/v1/shops/{shop}/…` (only their own shop); anyone reads
//! published products.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::commerce_edge::{is_shop_seller, seller_shop, unique_conflict, Page, PageQuery};
use super::extract::{AppJson, AuthUser, MaybeAuthUser};
use super::shops::{find_shop, parse_slug};
use crate::app::AppState;
use crate::commerce::domain::{parse_image_urls, parse_options, parse_text, MinorUnits, Sku, MAX_QUANTITY};
use crate::commerce::page;
use crate::commerce::store::{CategoryRow, NewProduct, NewVariant, ProductPatch, ProductRow, SearchQuery, VariantPatch, VariantRow};
use crate::error::{ApiError, ErrorBody};
use crate::store::ShopRow;

#[derive(Serialize, ToSchema)]
pub struct CategoryView {
    pub id: String,
    pub parent_id: Option<String>,
    pub slug: String,
    pub name: String,
}

impl From<CategoryRow> for CategoryView {
    fn from(c: CategoryRow) -> Self {
        CategoryView { id: c.id, parent_id: c.parent_id, slug: c.slug, name: c.name }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VariantView {
    pub id: String,
    pub sku: String,
    /// e.g. `{"size": "M", "color": "red"}`.
    pub options: BTreeMap<String, String>,
    /// Minor units (cents) of `currency`.
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub currency: String,
    pub weight_grams: i64,
    pub image_urls: Vec<String>,
    /// Units that can be bought now.
    pub available: i64,
}

impl From<VariantRow> for VariantView {
    fn from(v: VariantRow) -> Self {
        VariantView {
            id: v.id,
            sku: v.sku,
            options: v.options,
            price: v.price,
            compare_at_price: v.compare_at_price,
            currency: v.currency,
            weight_grams: v.weight_grams,
            image_urls: v.image_urls,
            available: v.available,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProductView {
    pub id: String,
    pub shop_id: String,
    pub category_id: Option<String>,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    /// `draft` or `published`.
    pub status: String,
    pub variants: Vec<VariantView>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn product_view(p: ProductRow, variants: Vec<VariantRow>) -> ProductView {
    ProductView {
        id: p.id,
        shop_id: p.shop_id,
        category_id: p.category_id,
        title: p.title,
        description: p.description,
        image_urls: p.image_urls,
        status: p.status,
        variants: variants.into_iter().map(Into::into).collect(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

async fn with_variants(state: &AppState, products: Vec<ProductRow>) -> Result<Vec<ProductView>, ApiError> {
    let ids: Vec<String> = products.iter().map(|p| p.id.clone()).collect();
    let mut by_product: HashMap<String, Vec<VariantRow>> = HashMap::new();
    for v in state.store.variants_of(&ids).await? {
        by_product.entry(v.product_id.clone()).or_default().push(v);
    }
    Ok(products.into_iter().map(|p| {
        let variants = by_product.remove(&p.id).unwrap_or_default();
        product_view(p, variants)
    }).collect())
}

#[derive(Deserialize, ToSchema)]
pub struct CreateCategoryRequest {
    pub slug: String,
    pub name: String,
    /// A category of the same shop to nest under.
    pub parent_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct VariantInput {
    pub sku: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Minor units (cents) in the shop's currency.
    pub price: i64,
    pub compare_at_price: Option<i64>,
    #[serde(default)]
    pub weight_grams: i64,
    #[serde(default)]
    pub image_urls: Vec<String>,
    /// Initial units in stock (recorded as a restock in the ledger).
    #[serde(default)]
    pub stock: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateProductRequest {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub category_id: Option<String>,
    #[serde(default)]
    pub image_urls: Vec<String>,
    /// At least one; at most 100.
    pub variants: Vec<VariantInput>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateProductRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    /// A category id, or "" to clear it.
    pub category_id: Option<String>,
    pub image_urls: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateVariantRequest {
    pub price: Option<i64>,
    /// A price, or -1 to clear it.
    pub compare_at_price: Option<i64>,
    pub weight_grams: Option<i64>,
    pub options: Option<BTreeMap<String, String>>,
    pub image_urls: Option<Vec<String>>,
}

fn parse_variant(v: &VariantInput) -> Result<NewVariant, ApiError> {
    let price = MinorUnits::parse(v.price, "price")?.get();
    let compare_at_price = v.compare_at_price.map(|c| MinorUnits::parse(c, "compare_at_price")).transpose()?.map(MinorUnits::get);
    if !(0..=1_000_000).contains(&v.weight_grams) {
        return Err(ApiError::bad_request("invalid_weight", "weight_grams must be between 0 and 1000000"));
    }
    if !(0..=MAX_QUANTITY * 100).contains(&v.stock) {
        return Err(ApiError::bad_request("invalid_quantity", "stock must be between 0 and 1000000"));
    }
    Ok(NewVariant {
        sku: Sku::parse(&v.sku)?.as_str().to_string(),
        options_json: parse_options(&v.options)?,
        price,
        compare_at_price,
        weight_grams: v.weight_grams,
        image_urls: parse_image_urls(&v.image_urls)?,
        initial_stock: v.stock,
    })
}

/// The category must exist in the same shop.
async fn shop_category(state: &AppState, shop: &ShopRow, id: &str) -> Result<CategoryRow, ApiError> {
    match state.store.category_by_id(id).await? {
        Some(c) if c.shop_id == shop.id => Ok(c),
        _ => Err(ApiError::not_found("category_not_found", "no category with this id in this shop")),
    }
}

/// A product of this shop; 404 for another shop's product, so ids do not leak.
async fn shop_product(state: &AppState, shop: &ShopRow, id: &str) -> Result<ProductRow, ApiError> {
    match state.store.product_by_id(id).await? {
        Some(p) if p.shop_id == shop.id => Ok(p),
        _ => Err(ApiError::not_found("product_not_found", "no product with this id in this shop")),
    }
}

pub(crate) async fn shop_variant(state: &AppState, shop: &ShopRow, id: &str) -> Result<VariantRow, ApiError> {
    match state.store.variant_by_id(id).await? {
        Some(v) if v.shop_id == shop.id => Ok(v),
        _ => Err(ApiError::not_found("variant_not_found", "no variant with this id in this shop")),
    }
}

async fn view_of(state: &AppState, product: ProductRow) -> Result<ProductView, ApiError> {
    let variants = state.store.variants_of(std::slice::from_ref(&product.id)).await?;
    Ok(product_view(product, variants))
}

/// Create a category, optionally under a parent (sellers of the shop).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/categories", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug")), request_body = CreateCategoryRequest,
    responses((status = 201, body = CategoryView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_category(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, AppJson(body): AppJson<CreateCategoryRequest>) -> Result<(StatusCode, Json<CategoryView>), ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let slug = parse_slug(&body.slug, "slug")?;
    let name = parse_text(&body.name, "name", 80, false)?;
    if let Some(parent) = &body.parent_id {
        shop_category(&state, &shop, parent).await?;
    }
    let category = state.store.create_category(&shop.id, body.parent_id.as_deref(), &slug, &name).await.map_err(|e| match e {
        crate::store::StoreError::UniqueViolation(_) => ApiError::conflict("category_slug_taken", "this shop already has a category with this slug"),
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(category.into())))
}

/// A shop's categories (flat, each with its `parent_id`).
#[utoipa::path(get, path = "/api/v1/shops/{shop}/categories", tag = "catalog", params(("shop" = String, Path, description = "shop slug"), PageQuery),
    responses((status = 200, body = Page<CategoryView>), (status = 404, body = ErrorBody)))]
pub async fn list_categories(State(state): State<AppState>, Path(shop): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Page<CategoryView>>, ApiError> {
    let shop = find_shop(&state, &shop).await?;
    let (after, limit) = q.parse()?;
    let rows = state.store.list_categories(&shop.id, after.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |c| c.id.clone());
    Ok(Json(Page { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Create a draft product with its variants (sellers of the shop). Prices are in the shop's currency.
#[utoipa::path(post, path = "/api/v1/shops/{shop}/products", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug")), request_body = CreateProductRequest,
    responses((status = 201, body = ProductView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_product(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, AppJson(body): AppJson<CreateProductRequest>) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let title = parse_text(&body.title, "title", 200, false)?;
    let description = parse_text(&body.description, "description", 10_000, true)?;
    let image_urls = parse_image_urls(&body.image_urls)?;
    if body.variants.is_empty() || body.variants.len() > 100 {
        return Err(ApiError::bad_request("invalid_variants", "a product needs 1 to 100 variants"));
    }
    let variants = body.variants.iter().map(parse_variant).collect::<Result<Vec<_>, _>>()?;
    if let Some(category) = &body.category_id {
        shop_category(&state, &shop, category).await?;
    }
    let new = NewProduct { category_id: body.category_id.clone(), title, description, image_urls, variants };
    let id = state.store.create_product(&shop.id, &shop.currency, &caller.user_id, new).await.map_err(unique_conflict("sku_taken", "a variant of this shop already uses this SKU"))?;
    let product = shop_product(&state, &shop, &id).await?;
    Ok((StatusCode::CREATED, Json(view_of(&state, product).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShopProductsQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// Sellers of the shop only: include drafts.
    #[serde(default)]
    pub include_drafts: bool,
}

/// A shop's products, oldest first: published ones for everyone, drafts too for its sellers with `include_drafts=true`.
#[utoipa::path(get, path = "/api/v1/shops/{shop}/products", tag = "catalog", params(("shop" = String, Path, description = "shop slug"), ShopProductsQuery),
    responses((status = 200, body = Page<ProductView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_shop_products(State(state): State<AppState>, MaybeAuthUser(caller): MaybeAuthUser, Path(shop): Path<String>, Query(q): Query<ShopProductsQuery>) -> Result<Json<Page<ProductView>>, ApiError> {
    let shop = if q.include_drafts {
        let caller = caller.ok_or_else(|| ApiError::unauthorized("missing_token", "include_drafts needs a seller's Authorization: Bearer token"))?;
        seller_shop(&state, &caller, &shop).await?
    } else {
        find_shop(&state, &shop).await?
    };
    let (after, limit) = PageQuery { cursor: q.cursor, limit: q.limit }.parse()?;
    let rows = state.store.list_shop_products(&shop.id, !q.include_drafts, after.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |p| p.id.clone());
    Ok(Json(Page { items: with_variants(&state, rows).await?, next_cursor }))
}

/// One product: anyone may read a published product of an active shop; anything else only the shop's sellers.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog", params(("id" = String, Path, description = "product id")),
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody)))]
pub async fn get_product(State(state): State<AppState>, MaybeAuthUser(caller): MaybeAuthUser, Path(id): Path<String>) -> Result<Json<ProductView>, ApiError> {
    let not_found = || ApiError::not_found("product_not_found", "no published product with this id");
    let product = state.store.product_by_id(&id).await?.ok_or_else(not_found)?;
    let shop_active = state.store.shop_by_id(&product.shop_id).await?.is_some_and(|s| s.status == "active");
    if !product.is_published() || !shop_active {
        let allowed = match &caller {
            Some(c) => is_shop_seller(&state, c, &product.shop_id).await?,
            None => false,
        };
        if !allowed {
            return Err(not_found());
        }
    }
    Ok(Json(view_of(&state, product).await?))
}

/// Change a product's title, description, category or images (sellers of the shop).
#[utoipa::path(patch, path = "/api/v1/shops/{shop}/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "product id")), request_body = UpdateProductRequest,
    responses((status = 200, body = ProductView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_product(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, AppJson(body): AppJson<UpdateProductRequest>) -> Result<Json<ProductView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let product = shop_product(&state, &shop, &id).await?;
    let mut patch = ProductPatch {
        title: body.title.as_deref().map(|t| parse_text(t, "title", 200, false)).transpose()?,
        description: body.description.as_deref().map(|d| parse_text(d, "description", 10_000, true)).transpose()?,
        image_urls: body.image_urls.as_deref().map(parse_image_urls).transpose()?,
        category_id: None,
    };
    match body.category_id.as_deref() {
        None => {}
        Some("") => patch.category_id = Some(None),
        Some(category) => {
            shop_category(&state, &shop, category).await?;
            patch.category_id = Some(Some(category.to_string()));
        }
    }
    state.store.update_product(&product.id, patch).await?;
    let product = shop_product(&state, &shop, &id).await?;
    Ok(Json(view_of(&state, product).await?))
}

/// Make a product visible to buyers and search (sellers of the shop).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/products/{id}/publish", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "product id")),
    responses((status = 200, body = ProductView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn publish_product(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>) -> Result<Json<ProductView>, ApiError> {
    set_published(state, caller, shop, id, true).await
}

/// Hide a product from buyers and search again (sellers of the shop).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/products/{id}/unpublish", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "product id")),
    responses((status = 200, body = ProductView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unpublish_product(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>) -> Result<Json<ProductView>, ApiError> {
    set_published(state, caller, shop, id, false).await
}

async fn set_published(state: AppState, caller: AuthUser, shop: String, id: String, published: bool) -> Result<Json<ProductView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    shop_product(&state, &shop, &id).await?;
    state.store.set_product_published(&id, published).await?;
    let product = shop_product(&state, &shop, &id).await?;
    Ok(Json(view_of(&state, product).await?))
}

/// Add a variant to a product (sellers of the shop).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/products/{id}/variants", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "product id")), request_body = VariantInput,
    responses((status = 201, body = ProductView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_variant(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, AppJson(body): AppJson<VariantInput>) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let product = shop_product(&state, &shop, &id).await?;
    let variant = parse_variant(&body)?;
    state.store.add_variant(&product, &shop.currency, &caller.user_id, variant).await.map_err(unique_conflict("sku_taken", "a variant of this shop already uses this SKU"))?;
    Ok((StatusCode::CREATED, Json(view_of(&state, product).await?)))
}

/// Change a variant's price, compare-at price, weight, options or images (sellers of the shop).
#[utoipa::path(patch, path = "/api/v1/shops/{shop}/variants/{id}", tag = "catalog", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "variant id")), request_body = UpdateVariantRequest,
    responses((status = 200, body = VariantView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_variant(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, AppJson(body): AppJson<UpdateVariantRequest>) -> Result<Json<VariantView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    shop_variant(&state, &shop, &id).await?;
    if body.weight_grams.is_some_and(|w| !(0..=1_000_000).contains(&w)) {
        return Err(ApiError::bad_request("invalid_weight", "weight_grams must be between 0 and 1000000"));
    }
    let patch = VariantPatch {
        price: body.price.map(|p| MinorUnits::parse(p, "price")).transpose()?.map(MinorUnits::get),
        compare_at_price: match body.compare_at_price {
            None => None,
            Some(-1) => Some(None),
            Some(c) => Some(Some(MinorUnits::parse(c, "compare_at_price")?.get())),
        },
        weight_grams: body.weight_grams,
        options_json: body.options.as_ref().map(parse_options).transpose()?,
        image_urls: body.image_urls.as_deref().map(parse_image_urls).transpose()?,
    };
    state.store.update_variant(&id, patch).await?;
    Ok(Json(shop_variant(&state, &shop, &id).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find in titles and descriptions (each must match, as a prefix).
    pub q: Option<String>,
    /// Category id; its sub-categories are included.
    pub category: Option<String>,
    /// Shop slug.
    pub shop: Option<String>,
    /// Minor units, inclusive.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Only products with a variant in stock.
    #[serde(default)]
    pub in_stock: bool,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Search published products: full-text ranked (PostgreSQL tsvector or SQLite FTS5), with filters.
#[utoipa::path(get, path = "/api/v1/search", tag = "catalog", params(SearchParams),
    responses((status = 200, body = Page<ProductView>), (status = 400, body = ErrorBody)))]
pub async fn search(State(state): State<AppState>, Query(p): Query<SearchParams>) -> Result<Json<Page<ProductView>>, ApiError> {
    let limit = page::limit(p.limit);
    let offset = match p.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => page::decode(c).and_then(|o| o.parse::<i64>().ok()).filter(|o| (0..=10_000).contains(o)).ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor this API returned"))?,
    };
    let shop_id = match &p.shop {
        Some(slug) => Some(find_shop(&state, slug).await?.id),
        None => None,
    };
    if p.q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(ApiError::bad_request("invalid_query", "q must be at most 200 characters"));
    }
    let query = SearchQuery {
        text: p.q,
        category_id: p.category,
        shop_id,
        min_price: p.min_price,
        max_price: p.max_price,
        in_stock: p.in_stock,
        offset,
        limit,
    };
    let rows = state.store.search_products(&query).await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<ProductRow> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = more.then(|| page::encode(&(offset + limit).to_string()));
    Ok(Json(Page { items: with_variants(&state, rows).await?, next_cursor }))
}
