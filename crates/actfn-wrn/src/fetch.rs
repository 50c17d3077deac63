//! Fetching the data sets: download (or take a local tarball), check, and unpack into data/.
//!
//! By default the official binary tarball is downloaded from the CIFAR page and its
//! published md5 checked. `from` takes a local tarball or an http(s) URL instead; its
//! checksums are reported, and recognised when they are those of a known tarball (the
//! official ones, or the development copies in the project's shared/data folder).
//! Unpacking goes to a temporary folder that is renamed into place once every file has been
//! read back and checked, so an interrupted fetch leaves no half data set behind.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};

use actfn_data::IdxSet;

use crate::data::{dataset_dir, is_present, read_complete_file, Cifar};
use crate::error::{Result, WrnError};
use crate::stale::remove_stale_temporaries;

/// A tarball whose checksums are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownTarball {
    /// The data set it holds.
    pub dataset: Cifar,
    /// What it is, for messages.
    pub description: &'static str,
    /// Its md5, lowercase hex, if published.
    pub md5: Option<&'static str>,
    /// Its SHA-256, lowercase hex, if known.
    pub sha256: Option<&'static str>,
}

/// Tarballs recognised by their checksums.
pub const KNOWN_TARBALLS: [KnownTarball; 4] = [
    KnownTarball {
        dataset: Cifar::Cifar10,
        description: "the official cifar-10-binary.tar.gz",
        md5: Some("c32a1d4ab5d03f1284b67883e8d87530"),
        sha256: Some("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    },
    KnownTarball {
        dataset: Cifar::Cifar100,
        description: "the official cifar-100-binary.tar.gz",
        md5: Some("03b5dce01913d631647c71ecec9e9cb8"),
        sha256: None,
    },
    KnownTarball {
        dataset: Cifar::Cifar10,
        description: "the development copy of CIFAR-10 in shared/data (pixels rebuilt from JPEG)",
        md5: None,
        sha256: Some("a9a2d65d5159dfe9e2d3b3757f486a3239eb9c4f427eb76a2498e3e7f245507e"),
    },
    KnownTarball {
        dataset: Cifar::Cifar100,
        description: "the development subset of CIFAR-100 in shared/data (15,000 training images)",
        md5: None,
        sha256: Some("438e78b1041cd3839a01fa5a451ce194ac524b40b05acdb5d5cce38aaaf1c956"),
    },
];

/// The official download of `kind`.
pub fn official_url(kind: Cifar) -> &'static str {
    match kind {
        Cifar::Cifar10 => "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        Cifar::Cifar100 => "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    }
}

/// The file name of the official tarball of `kind`.
pub fn official_file_name(kind: Cifar) -> &'static str {
    match kind {
        Cifar::Cifar10 => "cifar-10-binary.tar.gz",
        Cifar::Cifar100 => "cifar-100-binary.tar.gz",
    }
}

fn official(kind: Cifar) -> &'static KnownTarball {
    &KNOWN_TARBALLS[match kind {
        Cifar::Cifar10 => 0,
        Cifar::Cifar100 => 1,
    }]
}

/// What [`fetch`] did.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// The data set's folder.
    pub dir: PathBuf,
    /// Whether the data set was there already and nothing was done.
    pub already_present: bool,
    /// The tarball unpacked, with its checksums.
    pub tarball: Option<TarballInfo>,
}

/// A tarball that was unpacked.
#[derive(Debug, Clone)]
pub struct TarballInfo {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its md5, lowercase hex.
    pub md5: String,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// The known tarball it matches, if any.
    pub known: Option<&'static KnownTarball>,
    /// Training and test images found.
    pub train_images: usize,
    /// Test images found.
    pub test_images: usize,
}

/// Fetches `kind` into `data_dir/<folder>/`.
///
/// With `from = None`, does nothing when the data set is already there, else unpacks
/// `data_dir/<official file name>` if present, else downloads it from the official URL and
/// checks its md5. `from` is a local tarball path or an http(s) URL (downloaded into
/// `data_dir`); the data set is then replaced by its content.
pub fn fetch(
    kind: Cifar,
    from: Option<&str>,
    data_dir: &Path,
    allow_partial: bool,
) -> Result<FetchReport> {
    fetch_with(kind, from, data_dir, official_url(kind), allow_partial)
}

fn fetch_with(
    kind: Cifar,
    from: Option<&str>,
    data_dir: &Path,
    url: &str,
    allow_partial: bool,
) -> Result<FetchReport> {
    fs::create_dir_all(data_dir).map_err(WrnError::io(data_dir))?;
    let dir = dataset_dir(kind, data_dir);
    let (tarball, expected_md5) = match from {
        None if is_present(kind, data_dir) => {
            return Ok(FetchReport {
                dir,
                already_present: true,
                tarball: None,
            })
        }
        None => {
            let local = data_dir.join(official_file_name(kind));
            if local.is_file() {
                (local, None)
            } else {
                download(url, &local).map_err(|reason| WrnError::Download {
                    url: url.to_owned(),
                    reason,
                    dataset: kind.name().to_owned(),
                    fallback: local.clone(),
                })?;
                (local, official(kind).md5)
            }
        }
        Some(source) if source.starts_with("http://") || source.starts_with("https://") => {
            let name = source
                .rsplit('/')
                .next()
                .filter(|n| n.ends_with(".tar.gz") || n.ends_with(".tgz"))
                .unwrap_or(official_file_name(kind));
            let local = data_dir.join(name);
            download(source, &local).map_err(|reason| WrnError::Download {
                url: source.to_owned(),
                reason,
                dataset: kind.name().to_owned(),
                fallback: data_dir.join(official_file_name(kind)),
            })?;
            (local, None)
        }
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(WrnError::Io {
                    path,
                    error: io::Error::new(io::ErrorKind::NotFound, "no such tarball"),
                });
            }
            (path, None)
        }
    };
    let info = unpack(kind, &tarball, data_dir, expected_md5, allow_partial).inspect_err(|_| {
        if expected_md5.is_some() {
            // A corrupt download must not be taken for a tarball put there by hand.
            let _ = fs::remove_file(&tarball);
        }
    })?;
    Ok(FetchReport {
        dir,
        already_present: false,
        tarball: Some(info),
    })
}

/// Downloads `url` to `dest` (through `dest.part`); the error is a reason for a message.
fn download(url: &str, dest: &Path) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => return Err(format!("the server answered {code}")),
        // Not the transport error's Display: it repeats the URL.
        Err(ureq::Error::Transport(t)) => {
            return Err(match t.message() {
                Some(m) => format!("{}: {m}", t.kind()),
                None => t.kind().to_string(),
            })
        }
    };
    let len = response
        .header("Content-Length")
        .and_then(|l| l.parse::<u64>().ok());
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let bar = progress(len, "download");
    let result = (|| -> io::Result<u64> {
        let mut out = io::BufWriter::new(File::create(&part)?);
        let n = io::copy(&mut bar.wrap_read(response.into_reader()), &mut out)?;
        out.flush()?;
        if let Some(len) = len.filter(|&len| len != n) {
            return Err(io::Error::other(format!("got {n} of {len} bytes")));
        }
        fs::rename(&part, dest)?;
        Ok(n)
    })();
    bar.finish_and_clear();
    result.map(drop).map_err(|e| {
        let _ = fs::remove_file(&part);
        format!("{e} (writing {})", dest.display())
    })
}

fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
    let template = "{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    md5: Md5,
    sha256: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        self.sha256.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unpacks `kind`'s folder from `tarball` into `data_dir`, checking checksums and records.
fn unpack(
    kind: Cifar,
    tarball: &Path,
    data_dir: &Path,
    expected_md5: Option<&str>,
    allow_partial: bool,
) -> Result<TarballInfo> {
    let bad = |reason: String| WrnError::BadArchive {
        path: tarball.to_owned(),
        reason,
    };
    let file = File::open(tarball).map_err(WrnError::io(tarball))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let bar = progress(len, "unpack");
    let mut hashing = Hashing {
        inner: bar.wrap_read(io::BufReader::with_capacity(1 << 20, file)),
        md5: Md5::new(),
        sha256: Sha256::new(),
    };
    let tmp_prefix = format!(".fetch-{}-", kind.folder());
    remove_stale_temporaries(data_dir, |name| {
        name.strip_prefix(tmp_prefix.as_str())?.parse().ok()
    });
    let tmp = data_dir.join(format!("{tmp_prefix}{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(WrnError::io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(WrnError::io(&tmp))?;
    let result = (|| -> Result<TarballInfo> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&mut hashing));
        let mut folders = std::collections::BTreeSet::new();
        for entry in archive
            .entries()
            .map_err(|e| bad(format!("not a .tar.gz: {e}")))?
        {
            let mut entry = entry.map_err(|e| bad(format!("not a .tar.gz: {e}")))?;
            let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
            if let Some(first) = path.components().next() {
                folders.insert(first.as_os_str().to_string_lossy().into_owned());
            }
            let wanted = path.starts_with(kind.folder())
                && matches!(
                    entry.header().entry_type(),
                    tar::EntryType::Regular | tar::EntryType::Directory
                );
            // unpack_in refuses paths that would leave `tmp`.
            if wanted
                && !entry
                    .unpack_in(&tmp)
                    .map_err(|e| bad(format!("cannot unpack {}: {e}", path.display())))?
            {
                return Err(bad(format!("unsafe member name {}", path.display())));
            }
        }
        // Hash the rest of the file (after the end of the tar stream) too.
        io::copy(&mut hashing, &mut io::sink()).map_err(WrnError::io(tarball))?;
        let md5 = hex(&hashing.md5.clone().finalize());
        let sha256 = hex(&hashing.sha256.clone().finalize());
        if let Some(expected) = expected_md5.filter(|&e| e != md5) {
            return Err(WrnError::Checksum {
                path: tarball.to_owned(),
                actual: md5,
                expected: expected.to_owned(),
            });
        }
        let known = KNOWN_TARBALLS
            .iter()
            .find(|k| k.md5 == Some(md5.as_str()) || k.sha256 == Some(sha256.as_str()));
        if let Some(k) = known.filter(|k| k.dataset != kind) {
            return Err(bad(format!("this is {}, not {kind}", k.description)));
        }
        if !folders.contains(kind.folder()) {
            let found: Vec<_> = folders.into_iter().collect();
            return Err(bad(format!(
                "no {}/ folder for {kind} in it (found {found:?})",
                kind.folder()
            )));
        }
        let unpacked = dataset_dir(kind, &tmp);
        let mut counts = [0usize; 2];
        for (count, files) in counts
            .iter_mut()
            .zip([kind.train_files(), kind.test_files()])
        {
            for f in files {
                let path = unpacked.join(f);
                if !path.is_file() {
                    return Err(bad(format!("{}/{f} is missing", kind.folder())));
                }
                // Counted before the folder is moved into place: a tarball of short
                // files replaces nothing.
                *count += read_complete_file(&path, kind, allow_partial)?.len();
            }
        }
        Ok(TarballInfo {
            path: tarball.to_owned(),
            md5,
            sha256,
            known,
            train_images: counts[0],
            test_images: counts[1],
        })
    })();
    bar.finish_and_clear();
    let moved = result.and_then(|info| {
        let dest = dataset_dir(kind, data_dir);
        if dest.exists() {
            fs::remove_dir_all(&dest).map_err(WrnError::io(&dest))?;
        }
        fs::rename(dataset_dir(kind, &tmp), &dest).map_err(WrnError::io(&dest))?;
        Ok(info)
    });
    let _ = fs::remove_dir_all(&tmp);
    moved
}

/// What [`fetch_idx`] did: the folder, and the training and test images found (none when
/// the data set was already there).
#[derive(Debug, Clone)]
pub struct IdxReport {
    /// The data set's folder.
    pub dir: PathBuf,
    /// Training and test images, when the files were fetched now.
    pub images: Option<(usize, usize)>,
}

/// Fetches an IDX data set (MNIST, Fashion-MNIST) into `data_dir/<folder>/`: its four
/// files from the official site, or from `from`, a local folder holding them or an
/// http(s) address they are under. Each file (the official `.gz`) must match its
/// published MD5, and the files are read back before they replace anything. With
/// `from = None`, does nothing when the files are already there.
pub fn fetch_idx(set: IdxSet, from: Option<&str>, data_dir: &Path) -> Result<IdxReport> {
    let dir = set.dir(data_dir);
    if from.is_none() && set.is_present(data_dir) {
        return Ok(IdxReport { dir, images: None });
    }
    let base = from.unwrap_or(set.base_url());
    let tmp_prefix = format!(".fetch-{}-", set.folder());
    fs::create_dir_all(data_dir).map_err(WrnError::io(data_dir))?;
    remove_stale_temporaries(data_dir, |name| {
        name.strip_prefix(tmp_prefix.as_str())?.parse().ok()
    });
    let tmp = data_dir.join(format!("{tmp_prefix}{}", std::process::id()));
    let tmp_set = tmp.join(set.folder());
    fs::create_dir_all(&tmp_set).map_err(WrnError::io(&tmp_set))?;
    let result = (|| -> Result<(usize, usize)> {
        for file in set.files() {
            let dest = tmp_set.join(file.name);
            // Named in errors: the address or file the bytes came from.
            let origin;
            if base.starts_with("http://") || base.starts_with("https://") {
                let url = format!("{}/{}", base.trim_end_matches('/'), file.name);
                origin = PathBuf::from(&url);
                download(&url, &dest).map_err(|reason| WrnError::Download {
                    url,
                    reason,
                    dataset: set.name().to_owned(),
                    fallback: dir.join(file.name),
                })?;
            } else {
                let folder = Path::new(base);
                let source = folder.join(file.name);
                if !source.is_file() {
                    return Err(actfn_data::DataError::bad(&source, "no such file").into());
                }
                fs::copy(&source, &dest).map_err(WrnError::io(&source))?;
                origin = source;
            }
            let bytes = fs::read(&dest).map_err(WrnError::io(&dest))?;
            let md5 = actfn_data::idx::md5_hex(&bytes);
            if md5 != file.md5 {
                return Err(WrnError::Checksum {
                    path: origin,
                    actual: md5,
                    expected: file.md5.to_owned(),
                });
            }
        }
        let loaded = set.load(&tmp)?;
        Ok((loaded.train.len(), loaded.test.len()))
    })();
    let moved = result.and_then(|images| {
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(WrnError::io(&dir))?;
        }
        fs::rename(&tmp_set, &dir).map_err(WrnError::io(&dir))?;
        Ok(images)
    });
    let _ = fs::remove_dir_all(&tmp);
    Ok(IdxReport {
        dir,
        images: Some(moved?),
    })
}

/// Where the tests find official-format CIFAR tarballs: the folder `ACTFN_DATA_TARBALLS`
/// names (as the xtask reads it), else `<repo>/../shared/data`.
#[cfg(test)]
pub(crate) fn development_tarballs() -> PathBuf {
    std::env::var_os("ACTFN_DATA_TARBALLS")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{load, synthetic};

    /// Synthetic tarballs hold a few records per file: partial files are allowed here,
    /// except in the tests of the real data and of the refusal itself.
    fn fetch(kind: Cifar, from: Option<&str>, data_dir: &Path) -> Result<FetchReport> {
        super::fetch(kind, from, data_dir, true)
    }
    use std::io::BufRead;
    use std::net::TcpListener;

    /// Serves `body` with `status` to every connection on 127.0.0.1; returns the base URL.
    fn serve(status: &'static str, body: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn fetches_over_http_and_unpacks() {
        let tmp = tempfile::tempdir().unwrap();
        let url = serve("200 OK", synthetic::tarball(Cifar::Cifar10, 2));
        let data_dir = tmp.path().join("data");
        let report = fetch(
            Cifar::Cifar10,
            Some(&format!("{url}/x/cifar-10-binary.tar.gz")),
            &data_dir,
        )
        .unwrap();
        let info = report.tarball.unwrap();
        assert!(info.known.is_none());
        assert_eq!(info.md5.len(), 32);
        assert_eq!((info.train_images, info.test_images), (100, 20));
        assert_eq!(info.path, data_dir.join("cifar-10-binary.tar.gz"));
        let d = load(Cifar::Cifar10, &data_dir, true).unwrap();
        assert_eq!(d.train.len(), 100);
        assert_eq!(d.class_names[3], "class3");
        // A stale folder of a killed fetch is cleaned up.
        let stale = data_dir.join(format!(".fetch-cifar-10-batches-bin-{}", u32::MAX));
        fs::create_dir_all(&stale).unwrap();
        let again = format!("{url}/cifar-10-binary.tar.gz");
        fetch(Cifar::Cifar10, Some(&again), &data_dir).unwrap();
        // No temporary folder or partial file is left behind.
        let mut names: Vec<_> = fs::read_dir(&data_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
        // Fetching again without a source does nothing.
        assert!(
            fetch(Cifar::Cifar10, None, &data_dir)
                .unwrap()
                .already_present
        );
    }

    #[test]
    fn official_download_is_checked_against_its_md5() {
        let tmp = tempfile::tempdir().unwrap();
        let url = serve("200 OK", synthetic::tarball(Cifar::Cifar100, 1));
        let err = fetch_with(
            Cifar::Cifar100,
            None,
            tmp.path(),
            &format!("{url}/c.tar.gz"),
            true,
        )
        .unwrap_err();
        assert!(matches!(err, WrnError::Checksum { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("differs from the published 03b5dce01913d631647c71ecec9e9cb8"),
            "{err}"
        );
        assert!(!dataset_dir(Cifar::Cifar100, tmp.path()).exists());
        assert!(!tmp.path().join("cifar-100-binary.tar.gz").exists());
    }

    #[test]
    fn offline_error_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        // A port that nothing listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/cifar-10-binary.tar.gz");
        let err = fetch_with(Cifar::Cifar10, None, tmp.path(), &url, true).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot download {url}: ")),
            "{msg}"
        );
        assert!(
            msg.contains(
                "cifar-10-binary.tar.gz, or run `actfn data fetch cifar10 --from PATH_OR_URL`"
            ),
            "{msg}"
        );
        let url = serve("404 Not Found", Vec::new());
        let err = fetch(
            Cifar::Cifar10,
            Some(&format!("{url}/nothing.tar.gz")),
            tmp.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("the server answered 404"), "{err}");
    }

    #[test]
    fn local_tarball_of_the_wrong_data_set_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let tarball = tmp.path().join("c100.tar.gz");
        fs::write(&tarball, synthetic::tarball(Cifar::Cifar100, 1)).unwrap();
        let err = fetch(Cifar::Cifar10, Some(tarball.to_str().unwrap()), tmp.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("no cifar-10-batches-bin/ folder for cifar10"),
            "{err}"
        );
        let report = fetch(Cifar::Cifar100, Some(tarball.to_str().unwrap()), tmp.path()).unwrap();
        assert_eq!(report.tarball.unwrap().train_images, 100);
        fs::write(&tarball, b"not a tarball").unwrap();
        let err = fetch(Cifar::Cifar100, Some(tarball.to_str().unwrap()), tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains("c100.tar.gz: not a .tar.gz"),
            "{err}"
        );
        // The data set fetched before is untouched.
        assert!(is_present(Cifar::Cifar100, tmp.path()));
        let err = fetch(Cifar::Cifar100, Some("/no/such/file.tar.gz"), tmp.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("/no/such/file.tar.gz: "),
            "{err}"
        );
    }

    #[test]
    fn bad_records_in_a_tarball_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for f in Cifar::Cifar10
            .train_files()
            .iter()
            .chain(Cifar::Cifar10.test_files())
        {
            let mut data = synthetic::records(Cifar::Cifar10, 1, 0);
            if *f == "data_batch_3.bin" {
                data[2 * 3073] = 42;
            }
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("cifar-10-batches-bin/{f}"), &data[..])
                .unwrap();
        }
        let tarball = tmp.path().join("bad.tar.gz");
        fs::write(&tarball, tar.into_inner().unwrap().finish().unwrap()).unwrap();
        let err = fetch(Cifar::Cifar10, Some(tarball.to_str().unwrap()), tmp.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("data_batch_3.bin: record 2: class label 42"),
            "{err}"
        );
        assert!(!is_present(Cifar::Cifar10, tmp.path()));
    }

    #[test]
    fn a_tarball_of_short_files_is_refused_and_replaces_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let tarball = tmp.path().join("short.tar.gz");
        fs::write(&tarball, synthetic::tarball(Cifar::Cifar10, 1)).unwrap();
        let from = Some(tarball.to_str().unwrap());
        let data_dir = tmp.path().join("data");
        let err = super::fetch(Cifar::Cifar10, from, &data_dir, false).unwrap_err();
        assert!(
            err.to_string()
                .contains("data_batch_1.bin: 10 records, but the official file holds 10000"),
            "{err}"
        );
        assert!(!dataset_dir(Cifar::Cifar10, &data_dir).exists());
        let report = super::fetch(Cifar::Cifar10, from, &data_dir, true).unwrap();
        assert_eq!(report.tarball.unwrap().train_images, 50);
    }

    #[test]
    fn real_cifar10_development_copy() {
        let tarball = development_tarballs().join("cifar-10-binary.tar.gz");
        if !tarball.is_file() {
            eprintln!("skipped: {} is absent", tarball.display());
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let report = super::fetch(
            Cifar::Cifar10,
            Some(tarball.to_str().unwrap()),
            tmp.path(),
            false,
        )
        .unwrap();
        let info = report.tarball.unwrap();
        assert_eq!(info.known, Some(&KNOWN_TARBALLS[2]));
        assert_eq!((info.train_images, info.test_images), (50_000, 10_000));
        let d = load(Cifar::Cifar10, tmp.path(), false).unwrap();
        assert_eq!(d.train.class_counts(), vec![5000; 10]);
        assert_eq!(d.test.class_counts(), vec![1000; 10]);
        assert_eq!(d.class_names[0], "airplane");
        assert_eq!(d.class_names[9], "truck");
        let split =
            crate::data::split(&d.train, &crate::data::SplitConfig::paper(Cifar::Cifar10)).unwrap();
        assert_eq!(split.val.class_counts(), vec![500; 10]);
        assert_eq!(split.train.len(), 45_000);
    }

    #[test]
    fn real_cifar100_development_subset() {
        let tarball = development_tarballs().join("cifar-100-binary-subset.tar.gz");
        if !tarball.is_file() {
            eprintln!("skipped: {} is absent", tarball.display());
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let report = super::fetch(
            Cifar::Cifar100,
            Some(tarball.to_str().unwrap()),
            tmp.path(),
            false,
        )
        .unwrap();
        let info = report.tarball.unwrap();
        assert_eq!(info.known, Some(&KNOWN_TARBALLS[3]));
        assert_eq!((info.train_images, info.test_images), (15_000, 10_000));
        let d = load(Cifar::Cifar100, tmp.path(), false).unwrap();
        assert_eq!(d.class_names[0], "apple");
        let split = crate::data::split(&d.train, &crate::data::SplitConfig::paper(Cifar::Cifar100))
            .unwrap();
        assert_eq!(split.val.class_counts(), vec![50; 100]);
    }
}
