//! Where an import's bytes come from: a file on this machine, or a body stored in the
//! database by an upload.

use std::io::{self, Read};
use std::path::PathBuf;

use leadline_store::imports as store;

use crate::App;

/// Where an import's bytes come from; `open` may be called several times (check, then load,
/// then again on resume), each time from a byte offset.
pub trait Source: Send + Sync + 'static {
    fn open(&self, offset: u64) -> io::Result<Box<dyn Read + Send>>;
}

/// A file on this machine's disk.
#[derive(Debug, Clone)]
pub struct FileSource(pub PathBuf);

impl Source for FileSource {
    fn open(&self, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        use std::io::Seek;
        let mut file = std::fs::File::open(&self.0)?;
        file.seek(io::SeekFrom::Start(offset))?;
        Ok(Box::new(file))
    }
}

/// A body sent to `POST /v1/imports`, kept in the database in chunks so any node can read it.
/// Read from a blocking thread (it waits on the database through the runtime handle).
///
/// The body is `len` bytes long, and only its end is the end of the file: a chunk that is not
/// there (a gap, or the job's chunks deleted by a node that failed it) is an error, so a body
/// cut short can never be loaded as if it were whole.
#[derive(Debug, Clone)]
pub struct StoredBody {
    pub(super) app: App,
    pub(super) job_id: i64,
    pub(super) len: u64,
    pub(super) handle: tokio::runtime::Handle,
}

struct StoredReader {
    body: StoredBody,
    offset: u64,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for StoredReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.chunk.len() {
            if self.offset >= self.body.len {
                return Ok(0);
            }
            let body = self.body.clone();
            let offset = self.offset;
            let found = self.body.handle.block_on(async move {
                let mut conn = body.app.store.read().await?;
                store::chunk_at(&mut conn, body.job_id, offset as i64).await
            });
            match found.map_err(|e| io::Error::other(e.to_string()))? {
                Some((start, data)) if (start as u64) <= offset && offset < start as u64 + data.len() as u64 => {
                    self.at = (offset - start as u64) as usize;
                    self.chunk = data;
                }
                _ => {
                    let (id, len) = (self.body.job_id, self.body.len);
                    let missing = format!(
                        "the stored body of import {id} has no chunk at byte {offset} of {len}; it was removed or never stored"
                    );
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, missing));
                }
            }
        }
        // A last chunk longer than the body's recorded length is read only up to that length.
        let left = (self.body.len - self.offset).min((self.chunk.len() - self.at) as u64) as usize;
        let n = buf.len().min(left);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.offset += n as u64;
        Ok(n)
    }
}

impl Source for StoredBody {
    fn open(&self, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(StoredReader { body: self.clone(), offset, chunk: Vec::new(), at: 0 }))
    }
}
