//! `ddbb watch`: a stream of events printed as they come, until Ctrl-C (the caller's) or the
//! end of the watch (a compacted start revision).

use bytes::Bytes;
use ddbb_client::{Client, Error, WatchCreateRequest};
use ddbb_libs::kv::prefix_end;

use super::args::WatchArgs;
use super::exec::arg_bytes;
use super::{write_stdout, CliError};
use crate::output::{Report, Style};

/// The watch `args` asks for.
pub fn request(args: &WatchArgs, hex: bool) -> Result<WatchCreateRequest, CliError> {
    let key = arg_bytes(&args.key, hex)?;
    let range_end = if args.prefix {
        prefix_end(&key)
    } else if args.from_key {
        Bytes::from_static(&[0])
    } else if let Some(end) = &args.range_end {
        arg_bytes(end, hex)?
    } else {
        Bytes::new()
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
