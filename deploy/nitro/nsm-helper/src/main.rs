//! keyhold-nsm: the only code in the enclave image that touches /dev/nsm.
//!
//! Node.js has no ioctl(2), and the NSM is driven by one ioctl carrying a
//! CBOR request and a CBOR response. Keyhold therefore runs this program once
//! per exchange (src/attestation/nsm/nsm-transport.ts): it writes one
//! serde_cbor-encoded `Request` to stdin and reads one `Response` from stdout.
//!
//! Exit status 0 means stdout holds a Response, including `Response::Error`
//! (the NSM's own refusal, which Keyhold reports). Any other status means the
//! exchange did not happen; the reason is one line on stderr:
//!   2  the input is not one NSM Request of at most 4096 bytes
//!   3  /dev/nsm cannot be opened (not inside a Nitro enclave?)
//!   4  the request is one Keyhold never sends (see `forwarded`)
//!   5  the response could not be written

use std::io::{self, Read, Write};
use std::process::ExitCode;

use aws_nitro_enclaves_nsm_api::api::{Request, Response};
use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};

/// NSM_REQUEST_MAX_SIZE (include/uapi/linux/nsm.h, and the crate's driver):
/// the device takes nothing longer, so longer input is refused before parsing.
const MAX_REQUEST_BYTES: u64 = 0x1000;

struct Failure(u8, String);

/// Only the requests Keyhold makes. ExtendPCR, LockPCR and LockPCRs would
/// change (or freeze) measurements that every later attestation document
/// reports; this program must not be a way to do that, whoever runs it.
fn forwarded(request: &Request) -> bool {
    matches!(
        request,
        Request::Attestation { .. } | Request::DescribePCR { .. } | Request::GetRandom
    )
}

fn run() -> Result<(), Failure> {
    let mut input = Vec::new();
    io::stdin()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut input)
        .map_err(|e| Failure(2, format!("reading stdin: {e}")))?;
    if input.len() as u64 > MAX_REQUEST_BYTES {
        return Err(Failure(2, "request larger than 4096 bytes".into()));
    }
    let request: Request = serde_cbor::from_slice(&input)
        .map_err(|e| Failure(2, format!("stdin is not one NSM Request: {e}")))?;
    if !forwarded(&request) {
        return Err(Failure(4, "only Attestation, DescribePCR and GetRandom are forwarded".into()));
    }

    let fd = nsm_init();
    if fd < 0 {
        return Err(Failure(3, "cannot open /dev/nsm (not inside a Nitro enclave?)".into()));
    }
    let response: Response = nsm_process_request(fd, request);
    nsm_exit(fd);

    // The driver decoded the device's CBOR into `Response` (an undecodable
    // answer becomes Error(InternalError) there); re-encoding it with the same
    // serde_cbor gives Keyhold the canonical form its decoder expects.
    let output = serde_cbor::to_vec(&response)
        .map_err(|e| Failure(5, format!("encoding the response: {e}")))?;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure(5, format!("writing stdout: {e}")))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("keyhold-nsm: {message}");
            ExitCode::from(code)
        }
    }
}
