//! `IoVectors`: sequences of buffer slices for [`readv`](crate::readv) and
//! [`writev`](crate::writev) (Lwt's `IO_vectors`).

use lwt_core::{Error, Result};
use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::sync::OnceLock;

enum Buf<'a> {
    /// A borrowed, writable byte buffer (Lwt's `bytes`).
    Bytes(&'a mut [u8]),
    /// A borrowed, read-only byte buffer: only [`writev`](crate::writev) accepts it.
    Shared(&'a [u8]),
    /// An owned buffer (Lwt's Bigarray slice): it lives in the vectors until taken back.
    Owned(Vec<u8>),
}

struct Slice<'a> {
    buf: Buf<'a>,
    off: usize,
    len: usize,
}

impl Slice<'_> {
    fn whole_len(&self) -> usize {
        match &self.buf {
            Buf::Bytes(b) => b.len(),
            Buf::Shared(b) => b.len(),
            Buf::Owned(b) => b.len(),
        }
    }

    fn in_range(&self) -> bool {
        self.off
            .checked_add(self.len)
            .is_some_and(|end| end <= self.whole_len())
    }

    fn bytes(&self) -> &[u8] {
        let r = self.off..self.off + self.len;
        match &self.buf {
            Buf::Bytes(b) => &b[r],
            Buf::Shared(b) => &b[r],
            Buf::Owned(b) => &b[r],
        }
    }
}

/// A sequence of buffer slices for [`readv`](crate::readv) and [`writev`](crate::writev)
/// (Lwt's `IO_vectors.t`).
///
/// A slice is `(buffer, offset, length)`. Slices are checked when they are used, not when
/// they are appended (as in Lwt): `readv`/`writev` fail with [`Error::InvalidArgument`]
/// before any byte moves if a slice runs past its buffer. Offsets and lengths are `usize`,
/// so Lwt's "negative offset" cannot be expressed at all.
///
/// Buffers are borrowed (`&mut [u8]` with [`append_bytes`](IoVectors::append_bytes), or
/// `&[u8]` for writing only with [`append_slice`](IoVectors::append_slice)), or owned
/// (`Vec<u8>` with [`append_owned`](IoVectors::append_owned), Lwt's Bigarray slices), which
/// [`take_owned`](IoVectors::take_owned) gives back.
///
/// # Examples
///
/// ```
/// use lwt::unix::IoVectors;
/// lwt::run(async {
///     let (r, w) = lwt::unix::pipe().unwrap();
///     let mut out = IoVectors::new();
///     out.append_slice(b"hello, world", 0, 5);
///     out.append_owned(b"!!".to_vec(), 0, 1);
///     assert_eq!(lwt::unix::writev(&w, &out).await.unwrap(), 6);
///
///     let (mut a, mut b) = ([0u8; 2], [0u8; 8]);
///     let mut inp = IoVectors::new();
///     inp.append_bytes(&mut a, 0, 2);
///     inp.append_bytes(&mut b, 1, 7);
///     assert_eq!(lwt::unix::readv(&r, &mut inp).await.unwrap(), 6);
///     drop(inp);
///     assert_eq!((&a, &b[1..5]), (b"he", &b"llo!"[..]));
/// });
/// ```
#[derive(Default)]
pub struct IoVectors<'a> {
    slices: VecDeque<Slice<'a>>,
}

impl std::fmt::Debug for IoVectors<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoVectors")
            .field("slices", &self.slices.len())
            .field("byte_count", &self.byte_count())
            .finish()
    }
}

impl<'a> IoVectors<'a> {
    /// An empty sequence (Lwt's `IO_vectors.create`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(lwt::unix::IoVectors::new().is_empty());
    /// ```
    #[doc(alias = "create")]
    pub fn new() -> IoVectors<'a> {
        IoVectors::default()
    }

    /// Appends the slice `buf[off..off + len]` of a writable buffer (Lwt's `append_bytes`).
    /// The range is checked when the vectors are used.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = [0u8; 8];
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_bytes(&mut buf, 2, 4);
    /// assert_eq!(v.byte_count(), 4);
    /// ```
    pub fn append_bytes(&mut self, buf: &'a mut [u8], off: usize, len: usize) {
        self.slices.push_back(Slice {
            buf: Buf::Bytes(buf),
            off,
            len,
        });
    }

    /// Appends the slice `buf[off..off + len]` of a read-only buffer; [`readv`](crate::readv)
    /// rejects vectors holding one with `InvalidArgument`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_slice(b"abc", 0, 3);
    /// assert_eq!(v.byte_count(), 3);
    /// ```
    pub fn append_slice(&mut self, buf: &'a [u8], off: usize, len: usize) {
        self.slices.push_back(Slice {
            buf: Buf::Shared(buf),
            off,
            len,
        });
    }

    /// Appends the slice `buf[off..off + len]` of an owned buffer (Lwt's `append_bigarray`).
    /// Get the buffers back with [`take_owned`](IoVectors::take_owned).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_owned(vec![0; 16], 0, 16);
    /// assert_eq!(v.take_owned(), vec![vec![0; 16]]);
    /// ```
    #[doc(alias = "append_bigarray")]
    pub fn append_owned(&mut self, buf: Vec<u8>, off: usize, len: usize) {
        self.slices.push_back(Slice {
            buf: Buf::Owned(buf),
            off,
            len,
        });
    }

    /// The total length of the slices, in bytes (Lwt's `byte_count`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_slice(b"abc", 1, 2);
    /// v.append_slice(b"de", 0, 2);
    /// assert_eq!(v.byte_count(), 4);
    /// ```
    pub fn byte_count(&self) -> usize {
        self.slices.iter().map(|s| s.len).sum()
    }

    /// Removes `count` bytes from the front: whole slices first, then the start of a slice
    /// that is only partly consumed (Lwt's `drop`). Dropping more than
    /// [`byte_count`](IoVectors::byte_count) empties the sequence. Owned buffers of removed
    /// slices are freed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_slice(b"abc", 0, 3);
    /// v.append_slice(b"def", 0, 3);
    /// v.drop(4);
    /// assert_eq!(v.byte_count(), 2);
    /// assert_eq!(v.get(0), Some(&b"ef"[..]));
    /// ```
    pub fn drop(&mut self, mut count: usize) {
        while let Some(front) = self.slices.front_mut() {
            if count >= front.len {
                count -= front.len;
                self.slices.pop_front();
            } else {
                front.off += count;
                front.len -= count;
                return;
            }
        }
    }

    /// Whether every slice is empty (Lwt's `is_empty`): true for no slices, and for slices
    /// that all have length 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_slice(b"abc", 1, 0);
    /// assert!(v.is_empty());
    /// v.append_slice(b"abc", 1, 1);
    /// assert!(!v.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slices.iter().all(|s| s.len == 0)
    }

    /// The number of slices.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_slice(b"", 0, 0);
    /// assert_eq!(v.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.slices.len()
    }

    /// The bytes of slice `i` as they are now, or `None` if there is no such slice or it runs
    /// past its buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = lwt::unix::IoVectors::new();
    /// v.append_owned(b"xyz".to_vec(), 1, 2);
    /// v.append_slice(b"xyz", 2, 5);
    /// assert_eq!(v.get(0), Some(&b"yz"[..]));
    /// assert_eq!(v.get(1), None); // out of range
    /// ```
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let s = self.slices.get(i)?;
        s.in_range().then(|| s.bytes())
    }

    /// Takes the owned buffers back, in order, leaving only the borrowed slices.
    ///
    /// # Examples
    ///
    /// ```
    /// lwt::run(async {
    ///     let (r, w) = lwt::unix::pipe().unwrap();
    ///     lwt::unix::write(&w, b"data").await.unwrap();
    ///     let mut v = lwt::unix::IoVectors::new();
    ///     v.append_owned(vec![0; 4], 0, 4);
    ///     lwt::unix::readv(&r, &mut v).await.unwrap();
    ///     assert_eq!(v.take_owned(), vec![b"data".to_vec()]);
    /// });
    /// ```
    pub fn take_owned(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.slices.retain_mut(|s| match &mut s.buf {
            Buf::Owned(b) => {
                out.push(std::mem::take(b));
                false
            }
            _ => true,
        });
        out
    }

    /// Checks every slice and returns how many the system call may take: at most
    /// [`system_limit`](IoVectors::system_limit).
    pub(crate) fn check(&self, call: &'static str, writable: bool) -> Result<usize> {
        for (i, s) in self.slices.iter().enumerate() {
            if !s.in_range() {
                return Err(Error::invalid(
                    call,
                    format!(
                        "slice {i} (offset {}, length {}) runs past its buffer of {} bytes",
                        s.off,
                        s.len,
                        s.whole_len()
                    ),
                ));
            }
            if writable && matches!(s.buf, Buf::Shared(_)) {
                return Err(Error::invalid(
                    call,
                    format!("slice {i} is read-only (append_slice); use append_bytes"),
                ));
            }
        }
        let limit = IoVectors::system_limit().unwrap_or(usize::MAX);
        Ok(self.slices.len().min(limit))
    }

    /// The first `n` slices as `IoSlice`s for `writev` (checked by [`check`] first).
    pub(crate) fn io_slices(&self, n: usize) -> Vec<IoSlice<'_>> {
        self.slices
            .iter()
            .take(n)
            .map(|s| IoSlice::new(s.bytes()))
            .collect()
    }

    /// The first `n` slices as `IoSliceMut`s for `readv` (checked by [`check`] first, with
    /// `writable`).
    pub(crate) fn io_slices_mut(&mut self, n: usize) -> Vec<IoSliceMut<'_>> {
        self.slices
            .iter_mut()
            .take(n)
            .map(|s| {
                let r = s.off..s.off + s.len;
                IoSliceMut::new(match &mut s.buf {
                    Buf::Bytes(b) => &mut b[r],
                    Buf::Owned(b) => &mut b[r],
                    Buf::Shared(_) => &mut [],
                })
            })
            .collect()
    }

    /// Copies `data` into the first `n` slices, in order (the end of a read done in a job).
    pub(crate) fn scatter(&mut self, n: usize, mut data: &[u8]) {
        for mut dst in self.io_slices_mut(n) {
            if data.is_empty() {
                break;
            }
            let k = dst.len().min(data.len());
            dst[..k].copy_from_slice(&data[..k]);
            data = &data[k..];
        }
    }

    /// The bytes of the first `n` slices, concatenated (for a write done in a job).
    pub(crate) fn gather(&self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.slices.iter().take(n).map(|s| s.len).sum());
        for s in self.slices.iter().take(n) {
            out.extend_from_slice(s.bytes());
        }
        out
    }

    /// The total length of the first `n` slices.
    pub(crate) fn count_first(&self, n: usize) -> usize {
        self.slices.iter().take(n).map(|s| s.len).sum()
    }

    /// The most slices one `readv`/`writev` call takes (`IOV_MAX`, Lwt's `system_limit`):
    /// [`readv`](crate::readv) and [`writev`](crate::writev) use only that many first
    /// slices. `None` when the system does not say.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")]
    /// assert_eq!(lwt::unix::IoVectors::system_limit(), Some(1024));
    /// ```
    #[doc(alias = "IOV_MAX")]
    pub fn system_limit() -> Option<usize> {
        static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
        *LIMIT.get_or_init(|| {
            // SAFETY: sysconf only reads a system constant.
            let n = unsafe { libc::sysconf(libc::_SC_IOV_MAX) };
            usize::try_from(n).ok().filter(|&n| n > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::IoVectors;

    #[test]
    fn drop_partial_and_past_end() {
        let mut v = IoVectors::new();
        v.append_slice(b"abc", 0, 3);
        v.append_owned(b"defg".to_vec(), 1, 3);
        v.drop(2);
        assert_eq!(v.get(0), Some(&b"c"[..]));
        assert_eq!(v.byte_count(), 4);
        v.drop(100);
        assert_eq!(v.len(), 0);
        assert!(v.is_empty());
    }

    #[test]
    fn check_rejects_out_of_range_and_overflow() {
        let mut b = [0u8; 4];
        let mut v = IoVectors::new();
        v.append_bytes(&mut b, 3, 2);
        assert!(v.check("readv", true).is_err());
        let mut v = IoVectors::new();
        v.append_slice(b"ab", usize::MAX, 2);
        assert!(v.check("writev", false).is_err());
        let mut v = IoVectors::new();
        v.append_slice(b"ab", 0, 2);
        assert!(v.check("writev", false).is_ok());
        assert!(v.check("readv", true).is_err());
    }

    #[test]
    fn scatter_in_order() {
        let (mut a, mut b) = ([0u8; 2], [0u8; 3]);
        let mut v = IoVectors::new();
        v.append_bytes(&mut a, 0, 2);
        v.append_bytes(&mut b, 0, 3);
        v.scatter(2, b"wxyz");
        drop(v);
        assert_eq!((&a, &b), (b"wx", b"yz\0"));
    }
}
