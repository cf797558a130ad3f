//! The OpenAPI document, generated from the handlers, is snapshot-tested so that any change to
//! the API's contract shows up in review.

use shipit_api::testing::TestApp;

#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let app = TestApp::spawn().await;

    let document: serde_json::Value =
        app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();

    assert_eq!(document["openapi"], "3.1.0");
    insta::assert_json_snapshot!("openapi", document, { ".info.version" => "[version]" });
}
