//! A real SMTP server on loopback for the mail tests: aiosmtpd (PyPI, pinned in
//! scripts/requirements-test.txt, installed into .venv by scripts/test-tools.sh) with a
//! Maildir handler (tests/api/smtp_sink.py), on a free port. `SmtpSink` kills it on drop;
//! `Delivered` is one received message, headers and decoded text.

use base64::Engine;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    pub maildir: PathBuf,
    /// Addresses refused while this file lists them (beside the Maildir, which aiosmtpd
    /// creates itself).
    refuse_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port nothing listens on now (bound and released; the OS does not hand it out again
/// at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    /// Reserves a port and a Maildir without starting the server (SMTP "down").
    pub fn reserved() -> Self {
        let status = Command::new("bash")
            .arg("scripts/test-tools.sh")
            .current_dir(root())
            .status()
            .expect("bash runs scripts/test-tools.sh");
        assert!(status.success(), "scripts/test-tools.sh failed");
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let refuse_file = dir.path().join("refuse");
        Self {
            child: None,
            port: free_port(),
            maildir,
            refuse_file,
            _dir: dir,
        }
    }

    pub fn start() -> Self {
        let mut sink = Self::reserved();
        sink.run();
        sink
    }

    /// Starts the server on the reserved port and waits until it accepts connections.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "already running");
        let python = root().join(".venv/bin/python");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "smtp_sink.RefusingMailbox"])
            .arg(&self.maildir)
            .env("PYTHONPATH", root().join("tests/api"))
            .env("SMTP_SINK_REFUSE", &self.refuse_file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts (bash scripts/test-tools.sh installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aiosmtpd did not listen on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// While set, `RCPT TO` for these addresses answers 550.
    pub fn refuse(&self, addresses: &[&str]) {
        if addresses.is_empty() {
            let _ = std::fs::remove_file(&self.refuse_file);
        } else {
            std::fs::write(&self.refuse_file, addresses.join("\n")).unwrap();
        }
    }

    /// Every message received so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        read_mail_files(&self.maildir.join("new"))
    }
}

/// Every mail file in a directory (a Maildir's `new/`, or the app's mail directory).
pub fn read_mail_files(dir: &Path) -> Vec<Delivered> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut mail: Vec<Delivered> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| Delivered::parse(&std::fs::read(e.path()).unwrap()))
        .collect();
    mail.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    mail
}

#[derive(Debug, Clone)]
pub struct Delivered {
    pub from: String,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub message_id: String,
    pub text: String,
}

impl Delivered {
    fn parse(bytes: &[u8]) -> Self {
        let raw = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        // Unfold continuation lines, then look headers up by name.
        let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
        let header = |name: &str| {
            unfolded.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let encoding = header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let text = match encoding.as_str() {
            "base64" => String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(body.split_whitespace().collect::<String>())
                    .unwrap(),
            )
            .unwrap(),
            "quoted-printable" => decode_quoted_printable(body),
            _ => body.to_string(),
        };
        Self {
            from: header("From").unwrap_or_default(),
            to: header("To").unwrap_or_default(),
            reply_to: header("Reply-To"),
            subject: header("Subject").unwrap_or_default(),
            message_id: header("Message-ID").unwrap_or_default(),
            text,
        }
    }

    /// The password-reset code in the text (after "minutes: ").
    pub fn reset_code(&self) -> String {
        self.text
            .split("minutes: ")
            .nth(1)
            .expect("a reset code in the mail")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len() + 1
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
