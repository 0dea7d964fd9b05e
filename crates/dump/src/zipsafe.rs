//! The rules a zip must pass before a single byte of it is written:
//! every member stays inside the target, no symlinks or special files, no
//! duplicate names, and no decompression bomb (per-member ratio and total
//! size limits). Decided on the central directory alone, so a refused zip
//! leaves nothing behind.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::error::{DumpError, Result};

/// How far a zip may expand. The defaults accept any real Odoo backup
/// (SQL compresses about 10:1) and refuse crafted bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Largest allowed uncompressed/compressed ratio of one member.
    pub max_ratio: u64,
    /// Members smaller than this (uncompressed) are not ratio-checked:
    /// a tiny file can legitimately compress 1000:1.
    pub ratio_floor: u64,
    /// Largest allowed sum of all members' uncompressed sizes.
    pub max_total: u64,
    /// Largest allowed number of members.
    pub max_members: usize,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_ratio: 200,
            ratio_floor: 1 << 20,
            max_total: 1 << 40,
            max_members: 5_000_000,
        }
    }
}

/// One central-directory entry, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) compressed: u64,
    pub(crate) size: u64,
    pub(crate) unix_mode: Option<u32>,
    pub(crate) is_dir: bool,
}

/// A filestore file to extract: its zip index and its path relative to
/// the database's filestore directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilestoreMember {
    pub(crate) index: usize,
    pub(crate) relative: PathBuf,
    pub(crate) size: u64,
}

/// What a checked zip holds, in the terms of an Odoo backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipPlan {
    pub(crate) dump_sql: Option<(usize, u64)>,
    pub(crate) manifest: Option<(usize, u64)>,
    pub(crate) filestore: Vec<FilestoreMember>,
    pub(crate) filestore_bytes: u64,
    /// Every file member, with its full relative path (for archives that are not dumps).
    pub(crate) files: Vec<FilestoreMember>,
}

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

fn refuse(name: &str, reason: impl Into<String>) -> DumpError {
    DumpError::UnsafeZipMember {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// The member name as a relative path, or why it is not one.
pub(crate) fn safe_relative(name: &str) -> std::result::Result<PathBuf, &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.contains('\0') {
        return Err("NUL byte in the name");
    }
    if name.contains('\\') {
        return Err("backslash in the name (a Windows path separator)");
    }
    let bytes = name.as_bytes();
    if name.starts_with('/')
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
    {
        return Err("absolute path");
    }
    let mut path = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path leaves the target directory (..)"),
            part => path.push(part),
        }
    }
    if path.as_os_str().is_empty() {
        return Err("empty name");
    }
    Ok(path)
}

fn check_type(m: &Member) -> Result<()> {
    let Some(mode) = m.unix_mode else {
        return Ok(());
    };
    match mode & S_IFMT {
        S_IFLNK => Err(refuse(&m.name, "symbolic link")),
        0 | S_IFREG | S_IFDIR => Ok(()),
        _ => Err(refuse(&m.name, "special file (device, fifo or socket)")),
    }
}

fn check_ratio(m: &Member, limits: &ZipLimits) -> Result<()> {
    if m.size < limits.ratio_floor {
        return Ok(());
    }
    let ratio = m.size / m.compressed.max(1);
    if ratio > limits.max_ratio {
        return Err(refuse(
            &m.name,
            format!(
                "expands {ratio}:1 ({} bytes from {}), above the {}:1 limit (decompression bomb?)",
                m.size, m.compressed, limits.max_ratio
            ),
        ));
    }
    Ok(())
}

/// Applies every rule to the members of a zip and says what to extract.
pub(crate) fn check_members(members: &[Member], limits: &ZipLimits) -> Result<ZipPlan> {
    if members.len() > limits.max_members {
        return Err(DumpError::UnsafeZip(format!(
            "{} members, above the limit of {}",
            members.len(),
            limits.max_members
        )));
    }
    let mut plan = ZipPlan {
        dump_sql: None,
        manifest: None,
        filestore: Vec::new(),
        filestore_bytes: 0,
        files: Vec::new(),
    };
    let mut seen = HashSet::with_capacity(members.len());
    let mut total: u64 = 0;
    for (index, m) in members.iter().enumerate() {
        let path = safe_relative(&m.name).map_err(|reason| refuse(&m.name, reason))?;
        check_type(m)?;
        if m.is_dir {
            continue;
        }
        if !seen.insert(path.clone()) {
            return Err(refuse(
                &m.name,
                "duplicate name (two members would write the same file)",
            ));
        }
        check_ratio(m, limits)?;
        total = total.saturating_add(m.size);
        if total > limits.max_total {
            return Err(DumpError::UnsafeZip(format!(
                "members expand to more than the {} bytes allowed (decompression bomb?)",
                limits.max_total
            )));
        }
        plan.files.push(FilestoreMember {
            index,
            relative: path.clone(),
            size: m.size,
        });
        classify(&mut plan, index, m, path);
    }
    Ok(plan)
}

fn classify(plan: &mut ZipPlan, index: usize, m: &Member, path: PathBuf) {
    if path == std::path::Path::new("dump.sql") {
        plan.dump_sql = Some((index, m.size));
    } else if path == std::path::Path::new("manifest.json") {
        plan.manifest = Some((index, m.size));
    } else if let Ok(relative) = path.strip_prefix("filestore") {
        if !relative.as_os_str().is_empty() {
            plan.filestore_bytes += m.size;
            plan.filestore.push(FilestoreMember {
                index,
                relative: relative.to_owned(),
                size: m.size,
            });
        }
    }
}

/// Reads the central directory of an open archive into [`Member`]s.
pub(crate) fn members_of<R: Read + io::Seek>(
    archive: &mut zip::ZipArchive<R>,
) -> zip::result::ZipResult<Vec<Member>> {
    let mut members = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i)?;
        members.push(Member {
            name: String::from_utf8_lossy(f.name_raw()).into_owned(),
            compressed: f.compressed_size(),
            size: f.size(),
            unix_mode: f.unix_mode(),
            is_dir: f.is_dir(),
        });
    }
    Ok(members)
}

/// The number of entries the end-of-central-directory record declares.
/// The zip library keys members by name and silently keeps one of two
/// members with the same name, so duplicates only show as a count that
/// differs from the number of distinct names it reports.
pub(crate) fn declared_entries<R: Read + io::Seek>(file: &mut R) -> io::Result<Option<u64>> {
    use io::SeekFrom;
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65535 + 20);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let Some(eocd) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else {
        return Ok(None);
    };
    let Some(count) = tail.get(eocd + 10..eocd + 12) else {
        return Ok(None);
    };
    let count = u16::from_le_bytes([count[0], count[1]]);
    if count != u16::MAX {
        return Ok(Some(u64::from(count)));
    }
    // ZIP64: the locator right before the EOCD points at the zip64 record
    let Some(locator) = eocd.checked_sub(20).and_then(|at| tail.get(at..eocd)) else {
        return Ok(None);
    };
    if &locator[..4] != b"PK\x06\x07" {
        return Ok(None);
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&locator[8..16]);
    file.seek(SeekFrom::Start(u64::from_le_bytes(offset) + 32))?;
    let mut total = [0u8; 8];
    file.read_exact(&mut total)?;
    Ok(Some(u64::from_le_bytes(total)))
}

/// A reader that fails once more than the size a member declared comes
/// out: the central directory can lie about sizes.
pub(crate) struct Declared<R> {
    inner: R,
    left: u64,
    name: String,
}

impl<R> Declared<R> {
    pub(crate) fn new(inner: R, declared: u64, name: &str) -> Self {
        Self {
            inner,
            left: declared,
            name: name.to_string(),
        }
    }
}

impl<R: Read> Read for Declared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "zip member {:?} expands beyond its declared size",
                    self.name
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> Member {
        Member {
            name: name.into(),
            compressed: size / 4 + 1,
            size,
            unix_mode: Some(0o100644),
            is_dir: false,
        }
    }

    fn refused(members: &[Member]) -> String {
        check_members(members, &ZipLimits::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_odoo_backup_is_split_into_dump_manifest_and_filestore() {
        let plan = check_members(
            &[
                file("dump.sql", 100),
                file("manifest.json", 10),
                file("filestore/2a/2aae", 5),
                file("other.txt", 1),
            ],
            &ZipLimits::default(),
        )
        .unwrap();
        assert_eq!(plan.dump_sql, Some((0, 100)));
        assert_eq!(plan.manifest, Some((1, 10)));
        assert_eq!(plan.filestore.len(), 1);
        assert_eq!(plan.filestore[0].relative, PathBuf::from("2a/2aae"));
        assert_eq!(plan.filestore_bytes, 5);
    }

    #[test]
    fn parent_directory_members_are_refused() {
        assert!(refused(&[file("filestore/../../etc/passwd", 1)]).contains("leaves the target"));
        assert!(refused(&[file("../dump.sql", 1)]).contains("leaves the target"));
    }

    #[test]
    fn absolute_and_windows_paths_are_refused() {
        assert!(refused(&[file("/etc/cron.d/x", 1)]).contains("absolute path"));
        assert!(refused(&[file("C:/x", 1)]).contains("absolute path"));
        assert!(refused(&[file("filestore\\..\\x", 1)]).contains("backslash"));
    }

    #[test]
    fn symlinks_and_devices_are_refused() {
        let mut link = file("filestore/ab/link", 10);
        link.unix_mode = Some(0o120777);
        assert!(refused(&[link]).contains("symbolic link"));
        let mut dev = file("filestore/ab/dev", 0);
        dev.unix_mode = Some(0o020644);
        assert!(refused(&[dev]).contains("special file"));
    }

    #[test]
    fn duplicates_are_refused_even_when_spelled_differently() {
        assert!(refused(&[file("dump.sql", 1), file("dump.sql", 1)]).contains("duplicate"));
        assert!(
            refused(&[file("filestore/a/b", 1), file("filestore//a/./b", 1)]).contains("duplicate")
        );
    }

    #[test]
    fn high_ratio_members_are_refused_above_the_floor_only() {
        let small = Member {
            compressed: 10,
            size: 100_000,
            ..file("filestore/zeros", 0)
        };
        assert!(check_members(&[small], &ZipLimits::default()).is_ok());
        let bomb = Member {
            compressed: 1000,
            size: 10 << 30,
            ..file("dump.sql", 0)
        };
        assert!(refused(&[bomb]).contains("decompression bomb"));
    }

    #[test]
    fn total_size_limit_is_enforced() {
        let limits = ZipLimits {
            max_total: 1000,
            ..ZipLimits::default()
        };
        let err =
            check_members(&[file("dump.sql", 600), file("filestore/x", 600)], &limits).unwrap_err();
        assert!(err.to_string().contains("more than the 1000 bytes"));
    }

    #[test]
    fn member_count_limit_is_enforced() {
        let limits = ZipLimits {
            max_members: 1,
            ..ZipLimits::default()
        };
        assert!(check_members(&[file("a", 1), file("b", 1)], &limits).is_err());
    }

    #[test]
    fn a_member_cannot_expand_past_its_declared_size() {
        let mut out = Vec::new();
        let err = Declared::new(&b"0123456789"[..], 4, "dump.sql")
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("beyond its declared size"));
        let mut ok = Vec::new();
        Declared::new(&b"0123"[..], 4, "dump.sql")
            .read_to_end(&mut ok)
            .unwrap();
        assert_eq!(ok, b"0123");
    }
}
