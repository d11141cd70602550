//! Static files for `url_aliases` and Django's STATIC_URL, served by the I/O
//! side without touching Python: Content-Type, ETag/Last-Modified with 304,
//! single byte ranges, HEAD, precompressed `.br`/`.gz` siblings, long-lived
//! caching for content-hashed names. A file is served only when its real path
//! (symlinks resolved) is inside the alias directory.
use crate::http::body::ResponseBody;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which mount (if any) serves this path, and the rest of the path under it.
pub fn find_mount<'a>(
    mounts: &'a [(String, PathBuf)],
    path: &'a str,
) -> Option<(&'a Path, &'a str)> {
    mounts.iter().find_map(|(url, dir)| {
        let prefix = url.trim_end_matches('/');
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/') || url.ends_with('/') && prefix.is_empty())
            .then_some((dir.as_path(), rest))
    })
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/vnd.microsoft.icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "csv" => "text/csv; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `app.3f2a9c1b7d2e.css` (Django's ManifestStaticFilesStorage, webpack …):
/// a middle dot-separated part of at least 8 hex digits.
pub fn is_hashed_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| p.len() >= 8 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The file under `root` that `rest` (still percent-encoded) names, or None
/// when the path is malformed, escapes the root, or is not a regular file.
pub fn resolve(root: &Path, rest: &str) -> Option<PathBuf> {
    let decoded = crate::wsgi::environ::percent_decode(rest.as_bytes());
    let decoded = String::from_utf8(decoded).ok()?;
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return None,
            s if s.contains('\0') || s.contains('\\') => return None,
            s => path.push(s),
        }
    }
    let root = root.canonicalize().ok()?;
    let real = path.canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            name.eq_ignore_ascii_case(coding) && !q_zero
        })
}

fn status_only(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(
        status.canonical_reason().unwrap_or("").to_string().into(),
    ));
    *response.status_mut() = status;
    response
}

/// Parse `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`; None = ignore
/// the header (serve everything), Some(Err) = 416.
fn parse_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: serve the whole file (allowed by RFC 9110)
    }
    let (start, end) = spec.trim().split_once('-')?;
    let range = if start.is_empty() {
        let n: u64 = end.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = start.parse().ok()?;
        if start >= size {
            return Some(Err(()));
        }
        let end: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse().ok()?
        };
        if end < start {
            return None;
        }
        (start, end.min(size.saturating_sub(1)))
    };
    if range.0 >= size {
        return Some(Err(()));
    }
    Some(Ok(range))
}

pub async fn serve(
    method: &Method,
    headers: &HeaderMap,
    root: &Path,
    rest: &str,
) -> Response<ResponseBody> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = status_only(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let root = root.to_path_buf();
    let rest = rest.to_string();
    let Some(path) = tokio::task::spawn_blocking(move || resolve(&root, &rest))
        .await
        .ok()
        .flatten()
    else {
        return status_only(StatusCode::NOT_FOUND);
    };
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return status_only(StatusCode::NOT_FOUND);
    };
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let mtime_ns = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{size:x}-{mtime_ns:x}\"");
    let last_modified = httpdate::fmt_http_date(mtime);

    let mut out = HeaderMap::new();
    out.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    out.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&last_modified).unwrap(),
    );
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if is_hashed_name(name) {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=60"
        }),
    );
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );

    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(tags) => tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        }),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                let secs = |t: SystemTime| {
                    t.duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                };
                secs(mtime) <= secs(since)
            }),
    };
    if not_modified {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        out.remove(header::CONTENT_TYPE);
        out.remove(header::ACCEPT_RANGES);
        *response.headers_mut() = out;
        return response;
    }

    // Range requests are answered from the identity file only.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .map(|v| {
            v.to_str().ok() == Some(etag.as_str())
                || v.to_str().ok() == Some(last_modified.as_str())
        })
        .unwrap_or(true);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok)
        .and_then(|v| parse_range(v, size));

    let mut status = StatusCode::OK;
    let (mut file_path, mut start, mut len) = (path.clone(), 0, size);
    match range {
        Some(Err(())) => {
            let mut response = status_only(StatusCode::RANGE_NOT_SATISFIABLE);
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).unwrap(),
            );
            return response;
        }
        Some(Ok((first, last))) => {
            status = StatusCode::PARTIAL_CONTENT;
            start = first;
            len = last - first + 1;
            out.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {first}-{last}/{size}")).unwrap(),
            );
        }
        None => {
            let mut has_sibling = false;
            for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
                let sibling = PathBuf::from(format!("{}.{ext}", path.display()));
                let Ok(sibling_meta) = tokio::fs::metadata(&sibling).await else {
                    continue;
                };
                if !sibling_meta.is_file() {
                    continue;
                }
                has_sibling = true;
                let inside = sibling
                    .canonicalize()
                    .ok()
                    .zip(path.parent())
                    .is_some_and(|(real, dir)| real.starts_with(dir));
                if inside && accepts(headers, coding) {
                    file_path = sibling;
                    len = sibling_meta.len();
                    out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
                    break;
                }
            }
            if has_sibling {
                out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
        }
    }
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let body = if method == Method::HEAD {
        ResponseBody::empty()
    } else {
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            use std::io::{Seek, SeekFrom};
            let mut file = std::fs::File::open(&file_path)?;
            file.seek(SeekFrom::Start(start))?;
            Ok(file)
        })
        .await;
        match opened {
            Ok(Ok(file)) => ResponseBody::file(file, len),
            _ => return status_only(StatusCode::NOT_FOUND),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = out;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed_name("app.3f2a9c1b7d2e.css"));
        assert!(!is_hashed_name("app.css"));
        assert!(!is_hashed_name("jquery.min.js"));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok((95, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn mounts() {
        let mounts = vec![("/static".to_string(), PathBuf::from("/srv"))];
        assert_eq!(find_mount(&mounts, "/static/a.css").unwrap().1, "/a.css");
        assert!(find_mount(&mounts, "/staticfoo").is_none());
    }
}
