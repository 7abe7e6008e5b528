//! A TUN device (layer 3, no packet-information header) opened non-blocking, so the forwarder
//! can drive it with `tokio::io::unix::AsyncFd`.

use std::{
    fs::OpenOptions,
    io,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd},
        unix::fs::OpenOptionsExt,
    },
};

use nix::libc;

use super::NetemError;

/// An IP-level TUN device. The device is created in the network namespace of the calling
/// thread and disappears when this value is dropped.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
}

impl Tun {
    /// Creates the device `name` (at most 15 bytes) in the calling thread's network namespace.
    pub fn create(name: &str) -> Result<Self, NetemError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| NetemError::io("open /dev/net/tun", e))?;

        // SAFETY: ifreq is plain old data for which all-zero bytes are a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.len() >= req.ifr_name.len() || name.bytes().any(|b| b == 0) {
            return Err(NetemError::io(
                format!("TUN device name {name:?}"),
                io::Error::from(io::ErrorKind::InvalidInput),
            ));
        }
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one ifreq, which `req` is, and the fd is open.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(NetemError::io(
                format!("TUNSETIFF {name}"),
                io::Error::last_os_error(),
            ));
        }
        Ok(Self {
            fd: file.into(),
            name: name.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one packet; `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        nix::unistd::read(self, buf).map_err(io::Error::from)
    }

    /// Writes one packet into the device, i.e. delivers it to the namespace's IP stack.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        nix::unistd::write(self, packet).map_err(io::Error::from)
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
