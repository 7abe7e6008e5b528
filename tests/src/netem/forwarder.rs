//! The forwarder: moves IP packets between the two TUN devices, one task per direction, each
//! judging every packet and holding survivors in a delay line until their release time.

use std::{
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::io::{Interest, unix::AsyncFd};

use super::{
    NetemError, RuntimeThread,
    control::{Direction, LinkControl},
    delay::DelayQueue,
    impair::{Impairer, Verdict},
    tun::Tun,
};

/// Largest IP packet; reading into a smaller buffer would truncate oversized packets silently.
const MAX_PACKET: usize = 65_535;
/// Packets handled per wake-up before releasing due packets, so a flood in cannot starve the
/// way out.
const READ_BATCH: usize = 64;
/// Bound on packets held in one direction's delay line (about 24 MiB of full-size packets).
const MAX_IN_FLIGHT: usize = 16_384;

/// Starts forwarding between `a` and `b` on a dedicated runtime thread; forwarding stops when
/// the returned thread is dropped, which also closes (and so removes) both devices.
pub fn spawn(a: Tun, b: Tun, control: LinkControl, seed: u64) -> Result<RuntimeThread, NetemError> {
    let thread = RuntimeThread::start("netem-forward".to_owned(), None)?;
    let (a, b) = {
        // Register the devices with the forwarder runtime's reactor.
        let _runtime = thread.handle().enter();
        let register = |tun: Tun| {
            let name = tun.name().to_owned();
            // SAFETY: `Tun` owns its fd, which stays open and unchanged for the `Tun`'s life.
            unsafe { AsyncFd::register_with_interest(tun, Interest::READABLE) }
                .map(Arc::new)
                .map_err(|e| NetemError::io(format!("register TUN {name}"), e))
        };
        (register(a)?, register(b)?)
    };
    let directions = [
        (Arc::clone(&a), Arc::clone(&b), Direction::AToB, seed),
        (b, a, Direction::BToA, seed.rotate_left(32) ^ 1),
    ];
    for (src, dst, dir, seed) in directions {
        let control = control.clone();
        thread.spawn(async move {
            if let Err(e) = forward(&src, &dst, dir, &control, seed).await {
                tracing::error!(?dir, error = %e, "netem forwarding stopped");
            }
        });
    }
    Ok(thread)
}

async fn forward(
    src: &AsyncFd<Tun>,
    dst: &AsyncFd<Tun>,
    dir: Direction,
    control: &LinkControl,
    seed: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut line = DelayQueue::new();
    let mut impairer = Impairer::new(seed);
    loop {
        let deadline = line.next_deadline();
        // Without a deadline the timer branch is disabled; the far instant is never used.
        let wake_at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            ready = src.readable() => {
                let mut guard = ready?;
                for _ in 0..READ_BATCH {
                    let len = match guard.try_io(|fd| fd.get_ref().recv(&mut buf)) {
                        Ok(read) => read?,
                        Err(_would_block) => break,
                    };
                    let packet = buf.get(..len).unwrap_or_default();
                    match control.judge(dir, Instant::now(), packet.len(), &mut impairer) {
                        Verdict::Deliver(_) if line.len() >= MAX_IN_FLIGHT => {
                            control.count(dir, |s| s.dropped_queue += 1);
                        }
                        Verdict::Deliver(at) => line.push(at, packet.to_vec()),
                        Verdict::Drop(_) => {}
                    }
                }
            }
            () = tokio::time::sleep_until(wake_at.into()), if deadline.is_some() => {}
        }
        let now = Instant::now();
        while let Some(packet) = line.pop_due(now) {
            if !control.link_up(dir, now) {
                continue;
            }
            // TUN writes do not block; a refused packet is lost like on a real interface.
            match dst.get_ref().send(&packet) {
                Ok(_) => control.count(dir, |s| s.delivered += 1),
                Err(e) => {
                    tracing::debug!(?dir, error = %e, "TUN refused a packet");
                    control.count(dir, |s| s.send_errors += 1);
                }
            }
        }
        control.notify_progress();
    }
}
