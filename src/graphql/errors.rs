//! Gives every GraphQL error a stable `extensions.code` and keeps internals out of responses.
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};

use crate::errors::{internal_error, AppError, ErrorCode};

/// The extension that rewrites errors on their way out.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn replace(err: &mut ServerError, with: async_graphql::Error) {
    let pos = std::mem::take(&mut err.locations);
    let path = std::mem::take(&mut err.path);
    *err = with.into_server_error(pos.first().copied().unwrap_or_default());
    err.locations = pos;
    err.path = path;
}

fn has_code(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

fn set_code(err: &mut ServerError, code: ErrorCode) {
    let ext = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    ext.set("code", Value::from(code.as_str()));
}

/// Maps one error: service errors by their kind, database errors to INTERNAL, limit errors to
/// QUERY_TOO_COMPLEX, and anything else without a code (parse, validation, argument coercion)
/// to BAD_USER_INPUT, since those come from what the client sent.
pub fn classify(err: &mut ServerError) {
    if let Some(app) = err.source::<AppError>() {
        let mapped = app.to_graphql();
        replace(err, mapped);
        return;
    }
    if let Some(db) = err.source::<sea_orm::DbErr>() {
        let mapped = internal_error(db);
        replace(err, mapped);
        return;
    }
    if has_code(err) {
        return;
    }
    let msg = err.message.as_str();
    let too_complex = msg.contains("nested too deep")
        || msg.contains("too complex")
        || msg.contains("too many")
        || msg.contains("recursive depth");
    set_code(
        err,
        if too_complex {
            ErrorCode::QueryTooComplex
        } else {
            ErrorCode::BadUserInput
        },
    );
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors.iter_mut().for_each(classify);
        response
    }
}
