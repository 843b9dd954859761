//! Gives every GraphQL error a stable `extensions.code` and keeps internals out of responses.
use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};

use crate::errors::{
    gql_error, internal_error, is_constraint_violation, AppError, ErrorCode, RequestId,
    CHANGED_CONCURRENTLY,
};

/// Most errors one response carries; the rest are counted in one last error. A document can
/// hold thousands of mistakes and their messages would dwarf it.
pub const MAX_ERRORS: usize = 20;

/// Longest line of an error message: parse errors quote the offending line of the query.
const MAX_MESSAGE_LINE: usize = 160;

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
        let mapped =
            if is_constraint_violation(db) || matches!(db, sea_orm::DbErr::RecordNotUpdated) {
                gql_error(ErrorCode::Conflict, CHANGED_CONCURRENTLY)
            } else {
                internal_error(db)
            };
        replace(err, mapped);
        return;
    }
    if has_code(err) {
        return;
    }
    let msg = err.message.as_str();
    // async-graphql's limit errors carry no code; these are its messages (7.x).
    let too_complex = msg.contains("nested too deep")
        || msg.contains("too complex")
        || msg.contains("recursion depth of the query")
        || msg.contains("recursion limit exceeded")
        || msg.starts_with("The number of directives on the field");
    if err.message.lines().any(|l| l.len() > MAX_MESSAGE_LINE) {
        err.message = err
            .message
            .lines()
            .map(|l| match l.char_indices().nth(MAX_MESSAGE_LINE) {
                Some((cut, _)) => format!("{}…", &l[..cut]),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    set_code(
        err,
        if too_complex {
            ErrorCode::QueryTooComplex
        } else {
            ErrorCode::BadUserInput
        },
    );
}

fn is_internal(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .is_some_and(|c| *c == Value::from(ErrorCode::Internal.as_str()))
}

/// Points an internal error at the HTTP request id, which the client also gets in the
/// `x-request-id` response header. Returns the reference the error had, which the log line of
/// its detail carries.
fn stamp_request_id(err: &mut ServerError, id: &RequestId) -> Option<String> {
    let ext = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    let earlier = match ext.get("reference") {
        Some(Value::String(r)) => Some(r.clone()),
        _ => None,
    };
    ext.set("reference", Value::from(id.0.as_str()));
    ext.set("requestId", Value::from(id.0.as_str()));
    err.message = format!(
        "Internal error; please retry later or report request id {}.",
        id.0
    );
    earlier
}

/// Rewrites a response's errors on their way out: each gets its code, internal ones point at
/// the request id (logged once per request), and at most `MAX_ERRORS` are kept.
pub fn finish(response: &mut Response, request_id: Option<&RequestId>) {
    response.errors.iter_mut().for_each(classify);
    if let Some(id) = request_id {
        let mut references: Vec<String> = response
            .errors
            .iter_mut()
            .filter(|e| is_internal(e))
            .filter_map(|e| stamp_request_id(e, id))
            .collect();
        references.sort_unstable();
        references.dedup();
        if !references.is_empty() {
            // One line per request ties the request id to the logged details.
            tracing::error!(
                request_id = %id.0,
                references = %references.join(","),
                "internal error returned to the client"
            );
        }
    }
    cap_errors(&mut response.errors);
}

/// Keeps the first `MAX_ERRORS` errors and says how many more there were.
pub fn cap_errors(errors: &mut Vec<ServerError>) {
    if errors.len() <= MAX_ERRORS {
        return;
    }
    let left_out = errors.len() - MAX_ERRORS;
    let code = errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|e| e.get("code"))
        .cloned();
    errors.truncate(MAX_ERRORS);
    let mut more = ServerError::new(
        format!("{left_out} more error(s) left out; fix these first."),
        None,
    );
    let ext = more
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    ext.set(
        "code",
        code.unwrap_or(Value::from(ErrorCode::BadUserInput.as_str())),
    );
    ext.set("leftOut", Value::from(left_out));
    errors.push(more);
}
