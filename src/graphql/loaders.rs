//! Per-request DataLoaders: every edge is read in batches, so a query's SQL statement count does
//! not grow with the number of rows it returns.
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::{Context, Request, ServerResult};
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter};

use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::errors::db_error;
use crate::memberships::{self, Edge, Moment};

/// Largest batch: above the number of sites we keep, so one statement serves a whole list.
const MAX_BATCH: usize = 5_000;

/// How long a loader gathers keys before it queries. Resolvers of a large list register their
/// keys in several polling rounds (the executor yields every few dozen futures), so the
/// default 1 ms splits one wave into many batches.
const BATCH_DELAY: std::time::Duration = std::time::Duration::from_millis(3);

/// A model that loaders can fetch by primary key and lists can order.
pub trait Record: Clone + Send + Sync + sea_orm::FromQueryResult + 'static {
    type Entity: EntityTrait<Model = Self>;
    fn id(&self) -> i32;
    /// Lists order by this (name, then code).
    fn sort_key(&self) -> (&str, &str);
}

macro_rules! record {
    ($module:ident, $name:ident, $code:ident) => {
        impl Record for $module::Model {
            type Entity = $module::Entity;
            fn id(&self) -> i32 {
                self.id
            }
            fn sort_key(&self) -> (&str, &str) {
                (&self.$name, &self.$code)
            }
        }
    };
}

record!(organisation, name, ods_code);
record!(trust, name, ods_code);
record!(local_health_board, name, ods_code);
record!(integrated_care_board, name, ods_code);
record!(nhs_england_region, name, region_code);
record!(paediatric_diabetes_unit, pz_code, pz_code);
record!(paediatric_diabetes_network, pn_code, pn_code);
record!(open_uk_network, name, code);
record!(london_borough, name, gss_code);
record!(country, name, code);

/// Key: a record by primary key.
pub struct ById<M>(pub i32, PhantomData<fn() -> M>);

impl<M> ById<M> {
    pub fn new(id: i32) -> Self {
        ById(id, PhantomData)
    }
}
impl<M> Clone for ById<M> {
    fn clone(&self) -> Self {
        ById::new(self.0)
    }
}
impl<M> PartialEq for ById<M> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<M> Eq for ById<M> {}
impl<M> Hash for ById<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

/// Key: the current parent of a child on an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParentOf(pub Edge, pub i32);

/// Key: the current children of a parent on an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildrenOf(pub Edge, pub i32);

/// Loads records and memberships for one request.
pub struct HierarchyLoader {
    db: DatabaseConnection,
}

impl<M: Record> Loader<ById<M>> for HierarchyLoader {
    type Value = M;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ById<M>]) -> Result<HashMap<ById<M>, M>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = M::Entity::find()
            .filter(Expr::col(Alias::new("id")).is_in(ids))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|m| (ById::new(m.id()), m)).collect())
    }
}

/// Groups keys by edge so that each edge costs one statement.
fn by_edge(keys: impl Iterator<Item = (Edge, i32)>) -> HashMap<Edge, Vec<i32>> {
    let mut groups: HashMap<Edge, Vec<i32>> = HashMap::new();
    for (edge, id) in keys {
        groups.entry(edge).or_default().push(id);
    }
    groups
}

impl Loader<ParentOf> for HierarchyLoader {
    type Value = i32;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ParentOf]) -> Result<HashMap<ParentOf, i32>, Self::Error> {
        let mut out = HashMap::new();
        for (edge, ids) in by_edge(keys.iter().map(|k| (k.0, k.1))) {
            let parents = memberships::parents_of(&self.db, edge, &ids, Moment::Current)
                .await
                .map_err(db_error)?;
            out.extend(parents.into_iter().map(|(c, p)| (ParentOf(edge, c), p)));
        }
        Ok(out)
    }
}

impl Loader<ChildrenOf> for HierarchyLoader {
    type Value = Arc<Vec<i32>>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildrenOf],
    ) -> Result<HashMap<ChildrenOf, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for (edge, ids) in by_edge(keys.iter().map(|k| (k.0, k.1))) {
            let mut children = memberships::children_of(&self.db, edge, &ids, Moment::Current)
                .await
                .map_err(db_error)?;
            for id in ids {
                let list = children.remove(&id).unwrap_or_default();
                out.insert(ChildrenOf(edge, id), Arc::new(list));
            }
        }
        Ok(out)
    }
}

/// The request's loader.
pub fn loader<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a DataLoader<HierarchyLoader>> {
    ctx.data::<DataLoader<HierarchyLoader>>()
}

/// Parents a mutation's report shows for the sites it touched, as the call left them. A dry run
/// rolls its transaction back, so without these its report would show the database as it is
/// rather than as applying would leave it. Empty for queries.
#[derive(Default)]
pub struct ReportedParents(std::sync::Mutex<HashMap<ParentOf, Option<i32>>>);

impl ReportedParents {
    /// Records the parent (or none) of `child_id` on `edge` for the rest of the request.
    pub fn set(&self, edge: Edge, child_id: i32, parent_id: Option<i32>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(ParentOf(edge, child_id), parent_id);
    }

    fn get(&self, key: ParentOf) -> Option<Option<i32>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key).copied()
    }
}

/// The current parent record of `child_id` on `edge`.
pub async fn parent<M: Record>(
    ctx: &Context<'_>,
    edge: Edge,
    child_id: i32,
) -> async_graphql::Result<Option<M>> {
    let loader = loader(ctx)?;
    let reported = ctx
        .data_opt::<ReportedParents>()
        .and_then(|r| r.get(ParentOf(edge, child_id)));
    let parent_id = match reported {
        Some(p) => p,
        None => loader.load_one(ParentOf(edge, child_id)).await?,
    };
    match parent_id {
        Some(parent_id) => loader.load_one(ById::<M>::new(parent_id)).await,
        None => Ok(None),
    }
}

/// The current child records of `parent_id` on `edge`, ordered by name then code.
pub async fn children<M: Record>(
    ctx: &Context<'_>,
    edge: Edge,
    parent_id: i32,
) -> async_graphql::Result<Vec<M>> {
    let loader = loader(ctx)?;
    let ids = loader
        .load_one(ChildrenOf(edge, parent_id))
        .await?
        .unwrap_or_default();
    records(ctx, ids.iter().copied()).await
}

/// Records by id, ordered by name then code.
pub async fn records<M: Record>(
    ctx: &Context<'_>,
    ids: impl IntoIterator<Item = i32>,
) -> async_graphql::Result<Vec<M>> {
    let loaded = loader(ctx)?
        .load_many(ids.into_iter().map(ById::<M>::new))
        .await?;
    let mut list: Vec<M> = loaded.into_values().collect();
    list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(list)
}

/// Gives every request (HTTP or direct `Schema::execute`) its own DataLoader.
pub struct PerRequestLoaders {
    pub db: DatabaseConnection,
}

impl ExtensionFactory for PerRequestLoaders {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequestLoadersExtension {
            db: self.db.clone(),
        })
    }
}

struct PerRequestLoadersExtension {
    db: DatabaseConnection,
}

#[async_trait::async_trait]
impl Extension for PerRequestLoadersExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let loader = DataLoader::new(
            HierarchyLoader {
                db: self.db.clone(),
            },
            tokio::spawn,
        )
        .max_batch_size(MAX_BATCH)
        .delay(BATCH_DELAY);
        let request = request.data(loader).data(ReportedParents::default());
        next.run(ctx, request).await
    }
}
