//! Response builders: JSON bodies, SSE streams (never cached or transformed on the way), empty
//! answers.

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use crate::http::body::ResponseBody;
use crate::http::sse::SseBody;

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON body.
pub fn json_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    with_type(status, "application/json", ResponseBody::full(body))
}

/// A plain body of another media type (metrics).
pub fn text_response(content_type: &'static str, body: String) -> Response<ResponseBody> {
    with_type(StatusCode::OK, content_type, ResponseBody::full(body))
}

/// An SSE stream; never cached or transformed by intermediaries (buffering breaks streaming).
pub fn sse_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = with_type(StatusCode::OK, "text/event-stream", body);
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// An SSE stream fed by a subscriber channel.
pub fn sse_stream(body: SseBody) -> Response<ResponseBody> {
    sse_response(ResponseBody::Sse(body))
}

/// A response without body (202 Accepted, 204 No Content).
pub fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Empty);
    *response.status_mut() = status;
    response
}
