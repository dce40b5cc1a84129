//! `ddbb watch`: a stream of events printed as they come, until Ctrl-C (the caller's) or the
//! end of the watch (a compacted start revision).

use bytes::Bytes;
use ddbb_client::{Client, Error, WatchCreateRequest};

use super::args::WatchArgs;
use super::exec::{key_range, Target};
use super::{write_stdout, CliError};
use crate::output::{Report, Style};

/// The watch `args` asks for.
pub fn request(args: &WatchArgs, hex: bool) -> Result<WatchCreateRequest, CliError> {
    // etcd's encoding: no end for one key, `[0]` for "to the last key".
    let (key, range_end) = match key_range(&args.range, hex)? {
        Target::Key(key) => (key, Bytes::new()),
        Target::Range(r) => (r.start, r.end.unwrap_or(Bytes::from_static(&[0]))),
    };
    Ok(WatchCreateRequest {
        key,
        range_end,
        start_revision: args.rev,
        prev_kv: args.prev_kv,
        progress_notify: args.progress_notify,
        ..WatchCreateRequest::default()
    })
}

/// Watches and prints until the watch ends: `Ok` never comes back on its own except when the
/// cluster cancels the watch for good without an error.
pub async fn stream(client: &Client, args: &WatchArgs, style: Style) -> Result<(), CliError> {
    let mut watcher = client.watch(request(args, style.hex)?);
    while let Some(response) = watcher.next().await {
        let response = response?;
        if response.canceled && response.compact_revision > 0 {
            return Err(Error::Server(format!(
                "watch was canceled (etcdserver: mvcc: required revision has been compacted; \
                 compacted at revision {})",
                response.compact_revision
            ))
            .into());
        }
        if response.created {
            continue; // etcdctl prints nothing when the watch starts
        }
        write_stdout(&Report::Watch(response).render(style))?;
    }
    Ok(())
}
