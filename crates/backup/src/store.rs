//! A content-addressed chunk repository on a local folder.
//!
//! A stream is cut into content-defined chunks (FastCDC 2020), each named by the BLAKE3 hash
//! of its bytes, compressed with zstd and stored once, whatever the number of streams holding
//! it. Writing returns a [`Manifest`] (the chunk list, the size and the BLAKE3 hash of the
//! whole); reading a manifest back checks every chunk and the whole.
//!
//! Layout under the root:
//!
//! ```text
//! chunks/ab/abcdef…   one zstd frame per chunk, named by the hash of its uncompressed bytes
//! tmp/                chunks being written (temp file, fsync, rename into chunks/, fsync dir)
//! sessions/*.session  one marker per open WriteSession, read by garbage collection
//! ```
//!
//! A chunk file appears whole or not at all. Chunks are written only through a
//! [`WriteSession`], which is what makes [garbage collection](GcRun) safe while backups run.

mod gc;
mod session;

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

pub use gc::{GcOptions, GcReport, GcRun};
pub use session::WriteSession;

/// The BLAKE3 hash of a chunk's (or a whole stream's) uncompressed bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChunkId([u8; 32]);

impl ChunkId {
    /// The id of these bytes.
    pub fn of(data: &[u8]) -> ChunkId {
        ChunkId(*blake3::hash(data).as_bytes())
    }

    /// The id of a finished BLAKE3 hash.
    pub fn of_hash(hash: blake3::Hash) -> ChunkId {
        ChunkId(*hash.as_bytes())
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Option<ChunkId> {
        blake3::Hash::from_hex(hex)
            .ok()
            .map(|h| ChunkId(*h.as_bytes()))
    }

    /// The 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({self})")
    }
}

impl TryFrom<String> for ChunkId {
    type Error = Error;

    fn try_from(hex: String) -> Result<ChunkId, Error> {
        ChunkId::from_hex(&hex).ok_or(Error::NotAChunkId(hex))
    }
}

impl From<ChunkId> for String {
    fn from(id: ChunkId) -> String {
        id.to_hex()
    }
}

/// One chunk of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// The chunk's id.
    pub id: ChunkId,
    /// Its uncompressed size in bytes.
    pub size: u32,
}

/// How to put a stream back together: its chunks in order, its size and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The chunks, in stream order.
    pub chunks: Vec<ChunkRef>,
    /// The stream's size in bytes.
    pub size: u64,
    /// The BLAKE3 hash of the whole stream.
    pub blake3: ChunkId,
}

/// FastCDC's minimum, average and maximum chunk sizes, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkParams {
    /// No chunk is smaller, except a stream's last.
    pub min: u32,
    /// The size chunks tend to.
    pub avg: u32,
    /// No chunk is larger; also the memory a write holds per stream.
    pub max: u32,
}

impl Default for ChunkParams {
    /// 256 KiB / 1 MiB / 4 MiB: small enough that unchanged attachments and table pages
    /// dedup, large enough that a 1 GB dump is about a thousand files.
    fn default() -> Self {
        ChunkParams {
            min: 256 << 10,
            avg: 1 << 20,
            max: 4 << 20,
        }
    }
}

impl ChunkParams {
    fn check(&self) -> Result<(), Error> {
        use fastcdc::v2020::{
            AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
        };
        let ok = (MINIMUM_MIN..=MINIMUM_MAX).contains(&self.min)
            && (AVERAGE_MIN..=AVERAGE_MAX).contains(&self.avg)
            && (MAXIMUM_MIN..=MAXIMUM_MAX).contains(&self.max)
            && self.min <= self.avg
            && self.avg <= self.max;
        if ok {
            return Ok(());
        }
        Err(Error::ChunkParams(format!(
            "{self:?}: need min <= avg <= max, min in {MINIMUM_MIN}..={MINIMUM_MAX}, \
             avg in {AVERAGE_MIN}..={AVERAGE_MAX}, max in {MAXIMUM_MIN}..={MAXIMUM_MAX}"
        )))
    }
}

/// Counts of what the repository holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Chunk files.
    pub chunks: u64,
    /// Their total size on disk (compressed).
    pub bytes: u64,
}

/// A chunk repository rooted at a local folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    params: ChunkParams,
    zstd_level: i32,
}

/// zstd's default level: about 3x on SQL text at several hundred MB/s.
const ZSTD_LEVEL: i32 = 3;

impl Store {
    /// Opens the repository at `root`, creating its folders if needed, with default chunk sizes.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, Error> {
        Store::with_params(root, ChunkParams::default())
    }

    /// Opens the repository at `root` with these chunk sizes (they only affect new writes).
    pub fn with_params(root: impl Into<PathBuf>, params: ChunkParams) -> Result<Store, Error> {
        params.check()?;
        let store = Store {
            root: root.into(),
            params,
            zstd_level: ZSTD_LEVEL,
        };
        for dir in [store.chunks_dir(), store.tmp_dir(), store.sessions_dir()] {
            fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        }
        Ok(store)
    }

    /// The repository's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts writing: chunks written through the session survive garbage collection until the
    /// session is dropped. Record the manifests in the live set before dropping it.
    pub fn begin_write(&self) -> Result<WriteSession<'_>, Error> {
        WriteSession::begin(self)
    }

    /// Writes the stream described by `manifest` to `writer`, checking every chunk against its
    /// id and the whole against the manifest's hash. On error, `writer` may hold a prefix.
    pub fn get_stream(&self, manifest: &Manifest, mut writer: impl Write) -> Result<(), Error> {
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        for chunk in &manifest.chunks {
            let data = self.read_chunk(chunk.id, chunk.size)?;
            hasher.update(&data);
            size += data.len() as u64;
            writer.write_all(&data).map_err(Error::Output)?;
        }
        writer.flush().map_err(Error::Output)?;
        let actual = ChunkId(*hasher.finalize().as_bytes());
        if actual != manifest.blake3 || size != manifest.size {
            return Err(Error::ContentHash {
                expected: format!("{} ({} bytes)", manifest.blake3, manifest.size),
                actual: format!("{actual} ({size} bytes)"),
            });
        }
        Ok(())
    }

    /// Reads and checks one chunk; returns its size.
    pub fn verify_chunk(&self, id: ChunkId) -> Result<u32, Error> {
        let len = self.read_chunk(id, fastcdc::v2020::MAXIMUM_MAX)?.len();
        Ok(u32::try_from(len).unwrap_or(u32::MAX))
    }

    /// Whether the repository holds this chunk.
    pub fn has(&self, id: ChunkId) -> Result<bool, Error> {
        let path = self.chunk_path(id);
        path.try_exists().map_err(Error::io("check", &path))
    }

    /// Every chunk in the repository, in no particular order.
    pub fn list_chunks(&self) -> Result<Vec<ChunkId>, Error> {
        Ok(self.walk_chunks()?.into_iter().map(|c| c.id).collect())
    }

    /// The number of chunks and their size on disk.
    pub fn stats(&self) -> Result<StoreStats, Error> {
        let chunks = self.walk_chunks()?;
        let bytes = chunks.iter().map(|c| c.meta.len()).sum();
        Ok(StoreStats {
            chunks: chunks.len() as u64,
            bytes,
        })
    }

    /// Starts a garbage collection; see [`GcRun`] for the protocol.
    pub fn begin_gc(&self, options: &GcOptions) -> Result<GcRun<'_>, Error> {
        GcRun::begin(self, options)
    }

    fn chunks_dir(&self) -> PathBuf {
        self.root.join("chunks")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    fn chunk_path(&self, id: ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.chunks_dir().join(&hex[..2]).join(hex)
    }

    /// Reads, decompresses (at most `max_size` bytes) and checks one chunk.
    fn read_chunk(&self, id: ChunkId, max_size: u32) -> Result<Vec<u8>, Error> {
        let path = self.chunk_path(id);
        let corrupt = |reason: ChunkDefect| Error::CorruptChunk {
            id: id.to_hex(),
            path: path.clone(),
            reason,
        };
        if max_size > fastcdc::v2020::MAXIMUM_MAX {
            return Err(corrupt(ChunkDefect::TooLarge(max_size)));
        }
        let compressed = self.read_raw(id)?;
        decode_chunk(id, &compressed, max_size).map_err(corrupt)
    }

    /// The stored (compressed) bytes of a chunk, unchecked.
    pub(crate) fn read_raw(&self, id: ChunkId) -> Result<Vec<u8>, Error> {
        let path = self.chunk_path(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingChunk {
                id: id.to_hex(),
                path,
            }),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    }

    /// Stores `data` under `path` atomically: temp file in `tmp/`, fsync, rename, fsync folder.
    fn write_chunk(&self, path: &Path, data: &[u8]) -> Result<u64, Error> {
        let shard = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(shard).map_err(Error::io("create", shard))?;
        let compressed =
            zstd::bulk::compress(data, self.zstd_level).map_err(Error::io("compress", path))?;
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(Error::io("create a file in", &tmp_dir))?;
        tmp.write_all(&compressed)
            .map_err(Error::io("write", tmp.path()))?;
        tmp.as_file()
            .sync_all()
            .map_err(Error::io("fsync", tmp.path()))?;
        tmp.persist(path)
            .map_err(|e| Error::io("rename into", path)(e.error))?;
        File::open(shard)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("fsync", shard))?;
        Ok(compressed.len() as u64)
    }

    /// Every chunk file with its metadata; files whose name is not a hash are skipped.
    fn walk_chunks(&self) -> Result<Vec<ChunkFile>, Error> {
        let mut found = Vec::new();
        for shard in read_dir(&self.chunks_dir())? {
            if !shard.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for entry in read_dir(&shard.path())? {
                let Some(id) = entry.file_name().to_str().and_then(ChunkId::from_hex) else {
                    continue;
                };
                let path = entry.path();
                match entry.metadata() {
                    Ok(meta) => found.push(ChunkFile { id, path, meta }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // collected meanwhile
                    Err(e) => return Err(Error::io("stat", &path)(e)),
                }
            }
        }
        Ok(found)
    }
}

/// A chunk file seen by [`Store::walk_chunks`].
struct ChunkFile {
    id: ChunkId,
    path: PathBuf,
    meta: fs::Metadata,
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, Error> {
    let entries = fs::read_dir(dir).map_err(Error::io("list", dir))?;
    entries
        .collect::<Result<_, _>>()
        .map_err(Error::io("list", dir))
}

/// Sets a file's modification time to now through its path (never through an open file, so
/// that a file renamed away meanwhile is not touched). `Ok(false)` when there is no such file.
fn touch(path: &Path) -> Result<bool, Error> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    match utimensat(
        None,
        path,
        &TimeSpec::UTIME_NOW,
        &TimeSpec::UTIME_NOW,
        UtimensatFlags::NoFollowSymlink,
    ) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ENOENT) => Ok(false),
        Err(e) => Err(Error::io("touch", path)(e.into())),
    }
}

/// The key of a chunk inside a repository or [`Location`](crate::Location): `chunks/ab/<hash>`.
pub fn chunk_key(id: ChunkId) -> String {
    let hex = id.to_hex();
    format!("chunks/{}/{hex}", &hex[..2])
}

/// Why stored bytes are not the chunk their id names.
#[derive(Debug, thiserror::Error)]
pub enum ChunkDefect {
    /// The manifest's size for the chunk is more than the chunker ever cuts.
    #[error("the manifest gives it {0} bytes, more than any chunk")]
    TooLarge(u32),
    /// The bytes do not decompress into at most the manifest's size.
    #[error("not a zstd frame of at most {max_size} bytes: {zstd}")]
    NotZstd {
        /// The manifest's size for the chunk.
        max_size: u32,
        /// What zstd said.
        zstd: std::io::Error,
    },
    /// The bytes decompress, but into another chunk.
    #[error("its {size} bytes hash to {actual}")]
    WrongHash {
        /// How many bytes they decompress to.
        size: usize,
        /// The id of what they hold.
        actual: ChunkId,
    },
}

/// Decompresses a stored chunk (at most `max_size` bytes) and checks it hashes to `id`;
/// the error says what did not match.
pub fn decode_chunk(id: ChunkId, compressed: &[u8], max_size: u32) -> Result<Vec<u8>, ChunkDefect> {
    if max_size > fastcdc::v2020::MAXIMUM_MAX {
        return Err(ChunkDefect::TooLarge(max_size));
    }
    let data = zstd::bulk::decompress(compressed, max_size as usize)
        .map_err(|zstd| ChunkDefect::NotZstd { max_size, zstd })?;
    let actual = ChunkId::of(&data);
    if actual != id {
        return Err(ChunkDefect::WrongHash {
            size: data.len(),
            actual,
        });
    }
    Ok(data)
}

/// Reads `reader` into chunks, hands each to `put`, and returns the manifest.
fn chunk_stream(
    reader: impl Read,
    params: ChunkParams,
    mut put: impl FnMut(&[u8]) -> Result<ChunkId, Error>,
) -> Result<Manifest, Error> {
    let mut hasher = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let mut size = 0u64;
    for chunk in fastcdc::v2020::StreamCDC::new(reader, params.min, params.avg, params.max) {
        let chunk = chunk.map_err(|e| Error::Input(e.into()))?;
        hasher.update(&chunk.data);
        let id = put(&chunk.data)?;
        let len = u32::try_from(chunk.length).unwrap_or(u32::MAX); // at most params.max
        chunks.push(ChunkRef { id, size: len });
        size += u64::from(len);
    }
    Ok(Manifest {
        chunks,
        size,
        blake3: ChunkId(*hasher.finalize().as_bytes()),
    })
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
