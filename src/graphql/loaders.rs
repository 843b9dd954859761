//! Per-request DataLoaders: every edge is read in batches, so a query's SQL statement count does
//! not grow with the number of rows it returns.
use std::any::Any;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::{Context, Request, ServerResult};
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::OnceCell;

use crate::entities::{
    country, integrated_care_board, local_health_board, london_borough, nhs_england_region,
    open_uk_network, organisation, paediatric_diabetes_network, paediatric_diabetes_unit, trust,
};
use crate::errors::{db_error, internal_error};
use crate::memberships::{self, Edge, Moment};

/// Largest batch: above the number of sites we keep, so one statement serves a whole list.
const MAX_BATCH: usize = 5_000;

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

/// Objects resolved at the same level of a query share a group, so each edge is loaded once
/// for the whole level (one `load_many` through the DataLoader) instead of once per object.
/// Unlike batching by time window alone, this keeps a query's statement count independent of
/// its row count however the executor interleaves the resolvers.
pub struct Group {
    ids: Vec<i32>,
    memo: Mutex<HashMap<(Edge, bool), Memo>>,
}

/// One memoised edge load of a group (its concrete type depends on the edge).
type Memo = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group({} ids)", self.ids.len())
    }
}

impl Group {
    pub fn new(ids: impl IntoIterator<Item = i32>) -> Arc<Self> {
        Arc::new(Group {
            ids: ids.into_iter().collect(),
            memo: Mutex::new(HashMap::new()),
        })
    }

    pub fn single(id: i32) -> Arc<Self> {
        Self::new([id])
    }

    /// Runs `init` once per (edge, direction) for the group; later callers share the result.
    async fn memo<T, F>(&self, key: (Edge, bool), init: F) -> async_graphql::Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: std::future::Future<Output = async_graphql::Result<T>>,
    {
        let cell = {
            let mut memo = self
                .memo
                .lock()
                .map_err(|_| internal_error(&"loader memo poisoned"))?;
            memo.entry(key).or_default().clone()
        };
        let value = cell
            .get_or_try_init(|| async {
                init.await
                    .map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>)
            })
            .await?
            .clone();
        value
            .downcast::<T>()
            .map_err(|_| internal_error(&"loader memo type mismatch"))
    }
}

/// Objects that belong to a level group.
pub trait Grouped {
    fn with_group(self, group: Arc<Group>) -> Self;
}

struct Parents<M> {
    parent_of: HashMap<i32, i32>,
    records: HashMap<i32, M>,
    group: Arc<Group>,
}

struct Children<M> {
    children_of: HashMap<i32, Vec<i32>>,
    records: HashMap<i32, M>,
    group: Arc<Group>,
}

async fn load_records<M: Record>(
    ctx: &Context<'_>,
    ids: &[i32],
) -> async_graphql::Result<HashMap<i32, M>> {
    let loaded = loader(ctx)?
        .load_many(ids.iter().map(|id| ById::<M>::new(*id)))
        .await?;
    Ok(loaded.into_iter().map(|(k, m)| (k.0, m)).collect())
}

/// The current parent of `child_id` on `edge`, loaded for the child's whole group at once.
pub async fn up<M, T>(
    ctx: &Context<'_>,
    group: &Arc<Group>,
    edge: Edge,
    child_id: i32,
) -> async_graphql::Result<Option<T>>
where
    M: Record,
    T: From<M> + Grouped,
{
    let loaded: Arc<Parents<M>> = group
        .memo((edge, true), async {
            let found = loader(ctx)?
                .load_many(group.ids.iter().map(|id| ParentOf(edge, *id)))
                .await?;
            let mut parent_of: HashMap<i32, i32> =
                found.into_iter().map(|(k, p)| (k.1, p)).collect();
            // A mutation's report shows the parents the call leaves (even in a dry run).
            if let Some(reported) = ctx.data_opt::<ReportedParents>() {
                for id in &group.ids {
                    match reported.get(ParentOf(edge, *id)) {
                        Some(Some(p)) => {
                            parent_of.insert(*id, p);
                        }
                        Some(None) => {
                            parent_of.remove(id);
                        }
                        None => {}
                    }
                }
            }
            let mut ids: Vec<i32> = parent_of.values().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            let records = load_records::<M>(ctx, &ids).await?;
            Ok(Parents {
                parent_of,
                records,
                group: Group::new(ids),
            })
        })
        .await?;
    Ok(loaded
        .parent_of
        .get(&child_id)
        .and_then(|p| loaded.records.get(p))
        .map(|m| T::from(m.clone()).with_group(loaded.group.clone())))
}

/// The current children of `parent_id` on `edge`, ordered by name then code, loaded for the
/// parent's whole group at once; all children of the group form the next level's group.
pub async fn down<M, T>(
    ctx: &Context<'_>,
    group: &Arc<Group>,
    edge: Edge,
    parent_id: i32,
) -> async_graphql::Result<Vec<T>>
where
    M: Record,
    T: From<M> + Grouped,
{
    let loaded: Arc<Children<M>> = group
        .memo((edge, false), async {
            let found = loader(ctx)?
                .load_many(group.ids.iter().map(|id| ChildrenOf(edge, *id)))
                .await?;
            let children_of: HashMap<i32, Vec<i32>> = found
                .into_iter()
                .map(|(k, list)| (k.1, list.as_ref().clone()))
                .collect();
            let mut ids: Vec<i32> = children_of.values().flatten().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            let records = load_records::<M>(ctx, &ids).await?;
            Ok(Children {
                children_of,
                records,
                group: Group::new(ids),
            })
        })
        .await?;
    let mut list: Vec<&M> = loaded
        .children_of
        .get(&parent_id)
        .map(|ids| ids.iter().filter_map(|id| loaded.records.get(id)).collect())
        .unwrap_or_default();
    list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(list
        .into_iter()
        .map(|m| T::from(m.clone()).with_group(loaded.group.clone()))
        .collect())
}

/// Wraps a root list: its rows form one group.
pub fn level<M: Record, T: From<M> + Grouped>(rows: Vec<M>) -> Vec<T> {
    let group = Group::new(rows.iter().map(Record::id));
    rows.into_iter()
        .map(|m| T::from(m).with_group(group.clone()))
        .collect()
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
        // Levels batch their keys themselves (see `Group`); waiting for more keys only adds
        // latency.
        .delay(std::time::Duration::ZERO);
        let request = request.data(loader).data(ReportedParents::default());
        next.run(ctx, request).await
    }
}
