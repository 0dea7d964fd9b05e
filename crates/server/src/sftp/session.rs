//! The SFTP subsystem of one logged-in user: the operations of [`super::view`]'s one-file
//! world, on the request's real files.
//!
//! Writes go straight to the request's original dump at the offsets the client gives, so `put
//! -a` resumes where `stat` says the file ends. When a written file is closed (or the
//! connection drops with it open), its size and SHA-256 are recorded, while still in `draft`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh_sftp::protocol::{
    Attrs, Data, File as Entry, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode,
    Version,
};
use russh_sftp::server::StatusReply;
use slipway_upgrade::UpgradeRecord;

use super::view::{absolute, resolve, shared_file, Access, Shared, Target};
use slipway_upgrade::UpgradeService;

/// The most a single read returns (OpenSSH asks for 32 KiB to 256 KiB).
const MAX_READ: u32 = 256 * 1024;

/// One open handle.
enum Opened {
    /// A listing of `/`; `done` once its one entry was sent.
    Root { done: bool },
    /// The shared file.
    File {
        file: Arc<File>,
        path: PathBuf,
        access: Access,
        append: bool,
    },
}

/// The SFTP view of request `id` for one session.
pub(super) struct SftpSession {
    service: UpgradeService,
    id: i64,
    handles: HashMap<String, Opened>,
    next_handle: u64,
}

type Reply<T> = Result<T, StatusReply>;

fn denied(message: impl Into<String>) -> StatusReply {
    StatusCode::PermissionDenied.with_message(message)
}

fn failure(what: &str, e: impl std::fmt::Display) -> StatusReply {
    tracing::warn!("SFTP: {what}: {e}");
    StatusCode::Failure.with_message(format!("{what}: {e}"))
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_string(),
        language_tag: "en-US".to_string(),
    }
}

impl SftpSession {
    pub(super) fn new(service: UpgradeService, id: i64) -> Self {
        Self {
            service,
            id,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    /// The request as it is now: every open re-reads it, so a request that left `draft`
    /// stops taking writes.
    async fn record(&self) -> Reply<UpgradeRecord> {
        match self.service.request(self.id).await {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(denied("This upgrade request no longer exists")),
            Err(e) => Err(failure("reading the upgrade request", e)),
        }
    }

    /// What `path` names now, and the request it was resolved for.
    async fn target(&self, path: &str) -> Reply<(Target, UpgradeRecord)> {
        let record = self.record().await?;
        Ok((resolve(path, record.state, &record.filename), record))
    }

    /// The file on disk behind `shared`.
    fn disk_path(&self, record: &UpgradeRecord, shared: &Shared) -> PathBuf {
        match shared.access {
            Access::Write => self.service.files.original(self.id, &record.filename),
            Access::Read => self.service.files.upgraded(self.id, &record.filename),
        }
    }

    /// Why `path` is out of reach, in words the user can act on.
    fn refusal(record: &UpgradeRecord, path: &str) -> StatusReply {
        match shared_file(record.state, &record.filename) {
            Some(Shared {
                name,
                access: Access::Write,
            }) => denied(format!(
                "{path}: only /{name} can be written here (put FILE {name})"
            )),
            Some(Shared { name, .. }) => denied(format!(
                "{path}: only /{name} can be read here (get {name})"
            )),
            None => denied(format!(
                "{path}: nothing can be transferred while the request is {}",
                record.state.as_str()
            )),
        }
    }

    fn add_handle(&mut self, opened: Opened) -> String {
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), opened);
        handle
    }

    fn file(&self, handle: &str) -> Reply<(&Arc<File>, Access, bool)> {
        match self.handles.get(handle) {
            Some(Opened::File {
                file,
                access,
                append,
                ..
            }) => Ok((file, *access, *append)),
            _ => Err(StatusCode::Failure.with_message("Unknown file handle")),
        }
    }

    /// Attributes of `/` followed by the shared file when it exists.
    async fn shared_entry(&self, record: &UpgradeRecord) -> Option<Entry> {
        let shared = shared_file(record.state, &record.filename)?;
        let meta = tokio::fs::metadata(self.disk_path(record, &shared))
            .await
            .ok()?;
        Some(Entry::new(shared.name, attributes(&meta, shared.access)))
    }
}

/// What `stat` and `ls -l` show: the real size and time, `rw` or `r` for the user.
fn attributes(meta: &std::fs::Metadata, access: Access) -> FileAttributes {
    let permissions = match access {
        Access::Write => 0o100_600,
        Access::Read => 0o100_400,
    };
    FileAttributes {
        size: Some(meta.len()),
        uid: Some(0),
        gid: Some(0),
        permissions: Some(permissions),
        atime: Some(meta.atime().clamp(0, u32::MAX as i64) as u32),
        mtime: Some(meta.mtime().clamp(0, u32::MAX as i64) as u32),
        ..FileAttributes::empty()
    }
}

fn root_attributes() -> FileAttributes {
    FileAttributes {
        size: Some(0),
        uid: Some(0),
        gid: Some(0),
        permissions: Some(0o040_500),
        ..FileAttributes::empty()
    }
}

/// Opens the shared file on disk as `flags` ask, within what `access` allows.
fn open_file(path: &Path, access: Access, flags: OpenFlags) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    match access {
        Access::Read => options.read(true),
        Access::Write => options
            .write(true)
            .append(flags.contains(OpenFlags::APPEND))
            .truncate(flags.contains(OpenFlags::TRUNCATE))
            .create(flags.contains(OpenFlags::CREATE))
            .create_new(flags.contains(OpenFlags::CREATE | OpenFlags::EXCLUDE)),
    };
    if let (Access::Write, Some(dir)) = (access, path.parent()) {
        std::fs::create_dir_all(dir)?;
    }
    options.open(path)
}

impl Drop for SftpSession {
    /// A connection that drops mid-upload still leaves a file whose size `put -a` resumes
    /// from: record what is on disk so `status` tells the truth.
    fn drop(&mut self) {
        let written: Vec<PathBuf> = self
            .handles
            .drain()
            .filter_map(|(_, opened)| match opened {
                Opened::File {
                    path,
                    access: Access::Write,
                    ..
                } => Some(path),
                _ => None,
            })
            .collect();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for path in written {
            let (service, id) = (self.service.clone(), self.id);
            runtime.spawn(async move {
                if let Err(e) = service.record_sftp_upload(id, path).await {
                    tracing::warn!(request = id, "SFTP upload interrupted: {e}");
                }
            });
        }
    }
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.with_message("Not supported by this server")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let absolute = absolute(&path).ok_or_else(|| denied(format!("{path}: no such place")))?;
        Ok(Name {
            id,
            files: vec![Entry::dummy(absolute)],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let (target, record) = self.target(&path).await?;
        let attrs = match target {
            Target::Root => root_attributes(),
            Target::Shared(shared) => {
                let meta = tokio::fs::metadata(self.disk_path(&record, &shared))
                    .await
                    .map_err(|_| {
                        StatusCode::NoSuchFile
                            .with_message(format!("{path} has not been uploaded yet"))
                    })?;
                attributes(&meta, shared.access)
            }
            Target::Refused => return Err(Self::refusal(&record, &path)),
        };
        Ok(Attrs { id, attrs })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let (file, access, _) = self.file(&handle)?;
        let meta = file.metadata().map_err(|e| failure("stat", e))?;
        Ok(Attrs {
            id,
            attrs: attributes(&meta, access),
        })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let (target, record) = self.target(&path).await?;
        if target != Target::Root {
            return Err(Self::refusal(&record, &path));
        }
        let handle = self.add_handle(Opened::Root { done: false });
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Opened::Root { done }) if !*done => *done = true,
            Some(Opened::Root { .. }) => return Err(StatusCode::Eof.into()),
            _ => return Err(StatusCode::Failure.with_message("Unknown directory handle")),
        }
        let record = self.record().await?;
        let files = self.shared_entry(&record).await.into_iter().collect();
        Ok(Name { id, files })
    }

    async fn open(
        &mut self,
        id: u32,
        path: String,
        flags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let (target, record) = self.target(&path).await?;
        let Target::Shared(shared) = target else {
            return Err(Self::refusal(&record, &path));
        };
        let wants_write = flags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        );
        let allowed = match shared.access {
            Access::Write => wants_write && !flags.contains(OpenFlags::READ),
            Access::Read => !wants_write,
        };
        if !allowed {
            return Err(Self::refusal(&record, &path));
        }
        let disk = self.disk_path(&record, &shared);
        let (access, opening) = (shared.access, disk.clone());
        let file = tokio::task::spawn_blocking(move || open_file(&opening, access, flags))
            .await
            .map_err(|e| failure("open", e))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StatusCode::NoSuchFile
                    .with_message(format!("{path} is not there; upload it with put")),
                _ => failure(&format!("opening {path}"), e),
            })?;
        let handle = self.add_handle(Opened::File {
            file: Arc::new(file),
            path: disk,
            access,
            append: flags.contains(OpenFlags::APPEND),
        });
        Ok(Handle { id, handle })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let (file, access, _) = self.file(&handle)?;
        if access != Access::Read {
            return Err(denied("This file is open for writing only"));
        }
        let file = file.clone();
        let data = tokio::task::spawn_blocking(move || {
            let mut buffer = vec![0u8; len.min(MAX_READ) as usize];
            let read = file.read_at(&mut buffer, offset)?;
            buffer.truncate(read);
            Ok::<_, std::io::Error>(buffer)
        })
        .await
        .map_err(|e| failure("read", e))?
        .map_err(|e| failure("read", e))?;
        if data.is_empty() {
            return Err(StatusCode::Eof.into());
        }
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let limit = self.service.max_upload_bytes;
        let (file, access, append) = self.file(&handle)?;
        if access != Access::Write {
            return Err(denied("This file is read-only"));
        }
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            let end = if append {
                file.metadata()?.len()
            } else {
                offset
            } + data.len() as u64;
            if end > limit {
                return Err(std::io::Error::other(format!(
                    "the dump would be larger than this server accepts ({limit} bytes)"
                )));
            }
            if append {
                (&*file).write_all(&data)
            } else {
                file.write_all_at(&data, offset)
            }
        })
        .await
        .map_err(|e| failure("write", e))?
        .map_err(|e| failure("write", e))?;
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let Some(opened) = self.handles.remove(&handle) else {
            return Err(StatusCode::Failure.with_message("Unknown handle"));
        };
        if let Opened::File {
            file,
            path,
            access: Access::Write,
            ..
        } = opened
        {
            tokio::task::spawn_blocking(move || file.sync_all())
                .await
                .map_err(|e| failure("close", e))?
                .map_err(|e| failure("close", e))?;
            self.service
                .record_sftp_upload(self.id, path)
                .await
                .map_err(|e| StatusCode::Failure.with_message(e.to_string()))?;
        }
        Ok(ok(id))
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        // Times and modes of the shared file are ours to keep: accepted, ignored.
        match self.target(&path).await? {
            (Target::Shared(_), _) => Ok(ok(id)),
            (_, record) => Err(Self::refusal(&record, &path)),
        }
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        self.file(&handle)?;
        Ok(ok(id))
    }

    async fn remove(&mut self, _id: u32, path: String) -> Result<Status, Self::Error> {
        Err(denied(format!("{path}: files cannot be removed here")))
    }

    async fn mkdir(
        &mut self,
        _id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Err(denied(format!("{path}: folders cannot be created here")))
    }

    async fn rmdir(&mut self, _id: u32, path: String) -> Result<Status, Self::Error> {
        Err(denied(format!("{path}: folders cannot be removed here")))
    }

    async fn rename(
        &mut self,
        _id: u32,
        oldpath: String,
        _newpath: String,
    ) -> Result<Status, Self::Error> {
        Err(denied(format!("{oldpath}: files cannot be renamed here")))
    }

    async fn symlink(
        &mut self,
        _id: u32,
        linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        Err(denied(format!("{linkpath}: links cannot be created here")))
    }

    async fn readlink(&mut self, _id: u32, path: String) -> Result<Name, Self::Error> {
        Err(denied(format!("{path} is not a link")))
    }
}
