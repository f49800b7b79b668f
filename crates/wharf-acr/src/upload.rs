//! Uploading a packed context to the SAS URL `listBuildSourceUploadUrl` gave,
//! as azure-storage-blob does: one `PUT` (`x-ms-blob-type: BlockBlob`) up to
//! 64 MiB, above that 4 MiB blocks (`comp=block`) and a block list
//! (`comp=blocklist`). No token: the SAS is the authority.

use base64::Engine as _;
use url::Url;

use crate::error::{Error, Result};

/// Sizes of the upload.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// The largest archive sent in one PUT (64 MiB).
    pub single_put_max: usize,
    /// Block size above that (4 MiB).
    pub block_size: usize,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            single_put_max: 64 << 20,
            block_size: 4 << 20,
        }
    }
}

const STORAGE_VERSION: &str = "2021-08-06";

async fn put(
    http: &reqwest::Client,
    url: Url,
    body: Vec<u8>,
    headers: &[(&str, &str)],
    operation: &str,
) -> Result<()> {
    let mut request = http
        .put(url)
        .header("x-ms-version", STORAGE_VERSION)
        .header(reqwest::header::CONTENT_LENGTH, body.len().to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.body(body).send().await.map_err(|e| Error::Http {
        operation: operation.into(),
        message: crate::redact_sas(&e.to_string()),
    })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(crate::client::api_error(operation, response).await)
    }
}

/// The block id of block `index`: base64 of a fixed-length name (Azure wants
/// every id of a blob to have the same length).
pub fn block_id(index: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("wharf-{index:010}"))
}

/// Uploads `data` to the blob at `url` (a SAS URL, already checked).
pub async fn upload_blob(
    http: &reqwest::Client,
    url: &Url,
    data: &[u8],
    options: &UploadOptions,
) -> Result<()> {
    let operation = "uploading the context";
    if data.len() <= options.single_put_max {
        return put(
            http,
            url.clone(),
            data.to_vec(),
            &[("x-ms-blob-type", "BlockBlob")],
            operation,
        )
        .await;
    }
    let mut ids = Vec::new();
    for (index, block) in data.chunks(options.block_size.max(1)).enumerate() {
        let id = block_id(index);
        let mut block_url = url.clone();
        block_url
            .query_pairs_mut()
            .append_pair("comp", "block")
            .append_pair("blockid", &id);
        put(http, block_url, block.to_vec(), &[], operation).await?;
        ids.push(id);
    }
    let mut list = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in &ids {
        list.push_str("<Latest>");
        list.push_str(id);
        list.push_str("</Latest>");
    }
    list.push_str("</BlockList>");
    let mut commit = url.clone();
    commit.query_pairs_mut().append_pair("comp", "blocklist");
    put(
        http,
        commit,
        list.into_bytes(),
        &[("content-type", "application/xml")],
        operation,
    )
    .await
}
