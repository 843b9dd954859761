//! JSON responses are compressed with gzip or brotli when the client accepts it, and decode
//! to the same bytes. Prints the sizes of the two largest REST answers (whole tree, full site
//! list) for `bench/README.md`.
use crate::common;

use std::io::Read;

use common::{serve, TestDb};

async fn fetch(url: &str, encoding: Option<&str>) -> (Option<String>, Vec<u8>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(e) = encoding {
        req = req.header("accept-encoding", e);
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200, "{url}");
    let enc = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (enc, resp.bytes().await.expect("body").to_vec())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .expect("brotli");
    out
}

#[tokio::test]
async fn json_is_compressed_when_accepted() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let tree = "{ nhsEnglandRegions { name integratedCareBoards { name organisations { name paediatricDiabetesUnit { pzCode } } } } }";
    let sites = "{ organisations { odsCode name website telephone address1 address2 address3 city county postcode latitude longitude active trust { odsCode name } integratedCareBoard { odsCode name } paediatricDiabetesUnit { pzCode } } }";
    let url_of = |q: &str| {
        format!(
            "{base}/graphql?query={}",
            q.replace(' ', "%20")
                .replace('{', "%7B")
                .replace('}', "%7D")
        )
    };
    for (label, url) in [
        ("GraphQL: the whole tree (README query)", url_of(tree)),
        ("GraphQL: the full site list", url_of(sites)),
        (
            "REST: /v1/organisations/ (every site, nested)",
            format!("{base}/v1/organisations/"),
        ),
    ] {
        let (none, plain) = fetch(&url, None).await;
        assert_eq!(none, None, "{label}: not compressed unasked");
        let (gz, gz_body) = fetch(&url, Some("gzip")).await;
        assert_eq!(gz.as_deref(), Some("gzip"), "{label}");
        assert_eq!(gunzip(&gz_body), plain, "{label}");
        let (br, br_body) = fetch(&url, Some("br")).await;
        assert_eq!(br.as_deref(), Some("br"), "{label}");
        assert_eq!(unbrotli(&br_body), plain, "{label}");
        let (pick, _) = fetch(&url, Some("gzip, deflate, br")).await;
        assert!(pick.is_some(), "{label}: a browser's header");
        println!(
            "{label}: {} bytes; gzip {} ({:.1}% saved); brotli {} ({:.1}% saved)",
            plain.len(),
            gz_body.len(),
            100.0 * (1.0 - gz_body.len() as f64 / plain.len() as f64),
            br_body.len(),
            100.0 * (1.0 - br_body.len() as f64 / plain.len() as f64),
        );
        assert!(gz_body.len() * 4 < plain.len(), "{label}: gzip saves a lot");
    }
}
