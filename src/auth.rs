//! Admin API keys: creation, revocation and checking. Reads need no key; every mutation calls
//! `require_admin`, which checks the request's bearer token against the live keys.
use async_graphql::Context;
use chrono::Utc;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::entities::admin_key;
use crate::errors::{AppError, AppResult};
use crate::writes;

/// The bearer token a request carried, if any (set by the HTTP layer).
#[derive(Clone)]
pub struct BearerToken(pub String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// An authenticated admin: the key's name, used as the actor in the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminIdentity {
    pub name: String,
}

/// A new random key: 32 bytes from the OS, hex-encoded, with a recognisable prefix.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("nhso_{}", hex::encode(bytes))
}

/// Hex SHA-256 of a key (keys are random, so no salt is needed).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(AppError::BadUserInput(
            "A key name is 1 to 64 letters, digits or - _ . @".into(),
        ))
    }
}

/// Creates a key and returns it; it is never shown again.
pub async fn create_key(db: &DatabaseConnection, name: &str) -> AppResult<String> {
    let name = check_name(name)?;
    let txn = writes::begin(db).await?;
    let live = admin_key::Entity::find()
        .filter(admin_key::Column::Name.eq(&name))
        .filter(admin_key::Column::RevokedAt.is_null())
        .one(&*txn)
        .await?;
    if live.is_some() {
        return Err(AppError::Conflict(format!(
            "A live key named '{name}' exists; revoke it first or pick another name."
        )));
    }
    let key = generate_key();
    admin_key::ActiveModel {
        name: Set(name),
        key_hash: Set(hash_key(&key)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok(key)
}

/// Revokes the live key with this name; effective on the next request.
pub async fn revoke_key(db: &DatabaseConnection, name: &str) -> AppResult<()> {
    let name = check_name(name)?;
    let txn = writes::begin(db).await?;
    let live = admin_key::Entity::find()
        .filter(admin_key::Column::Name.eq(&name))
        .filter(admin_key::Column::RevokedAt.is_null())
        .one(&*txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No live key named '{name}'.")))?;
    let mut active = live.into_active_model();
    active.revoked_at = Set(Some(Utc::now()));
    active.update(&*txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Every key (live and revoked), oldest first. Hashes only; keys are never stored.
pub async fn list_keys(db: &DatabaseConnection) -> AppResult<Vec<admin_key::Model>> {
    Ok(admin_key::Entity::find()
        .order_by_asc(admin_key::Column::CreatedAt)
        .all(db)
        .await?)
}

/// The admin a token belongs to, comparing hashes in constant time against every live key.
pub async fn authenticate(
    db: &DatabaseConnection,
    token: &str,
) -> AppResult<Option<AdminIdentity>> {
    let presented = hash_key(token.trim());
    let live = admin_key::Entity::find()
        .filter(admin_key::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    let mut found = None;
    for k in live {
        // No early exit: every live key is compared.
        if bool::from(k.key_hash.as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(k);
        }
    }
    let Some(k) = found else { return Ok(None) };
    let name = k.name.clone();
    let txn = writes::begin(db).await?;
    admin_key::Entity::update_many()
        .col_expr(admin_key::Column::LastUsedAt, Expr::value(Utc::now()))
        .filter(admin_key::Column::Id.eq(k.id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(Some(AdminIdentity { name }))
}

/// The admin behind this request, or `UNAUTHENTICATED`.
pub async fn require_admin(ctx: &Context<'_>) -> AppResult<AdminIdentity> {
    let refused = || {
        AppError::Unauthenticated(
            "This needs an admin key: send `Authorization: Bearer <key>` (create one with `nhs-organisations admin-key create NAME`).".into(),
        )
    };
    let token = ctx.data_opt::<BearerToken>().ok_or_else(refused)?;
    let db = ctx
        .data::<DatabaseConnection>()
        .map_err(|e| AppError::Internal(e.message))?;
    authenticate(db, &token.0).await?.ok_or_else(refused)
}

/// Reads `Authorization: Bearer <token>`.
pub fn bearer_from_header(value: Option<&str>) -> Option<BearerToken> {
    let v = value?.trim();
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| BearerToken(token.trim().to_string()))
}

/// The `admin-key list` table: names and dates, never keys.
pub struct KeyTable(pub Vec<admin_key::Model>);

impl std::fmt::Display for KeyTable {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
            d.map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "-".into())
        };
        writeln!(
            out,
            "{:<24} {:<22} {:<22} status",
            "name", "created", "last used"
        )?;
        for k in &self.0 {
            let status = if k.revoked_at.is_some() {
                "revoked"
            } else {
                "live"
            };
            writeln!(
                out,
                "{:<24} {:<22} {:<22} {status}",
                k.name,
                when(Some(k.created_at)),
                when(k.last_used_at)
            )?;
        }
        Ok(())
    }
}
