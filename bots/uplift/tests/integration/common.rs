//! What the uplift tests share: the recorded Bugzilla answers of `fixtures/uplift/bugzilla`.

use std::path::Path;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A recorded Bugzilla answer.
pub(crate) fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/uplift/bugzilla").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Serves the five pages of bug `id`: the bug, its attachments, comments, history and users.
pub(crate) async fn serve_bug(server: &MockServer, id: i64) {
    let pages = [
        (format!("/rest/bug/{id}"), format!("bug_{id}.json")),
        (format!("/rest/bug/{id}/attachment"), format!("bug_{id}_attachment.json")),
        (format!("/rest/bug/{id}/comment"), format!("bug_{id}_comment.json")),
        (format!("/rest/bug/{id}/history"), format!("bug_{id}_history.json")),
    ];
    for (route, file) in pages {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(&file)))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/rest/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture(&format!("user_{id}.json"))))
        .mount(server)
        .await;
}
