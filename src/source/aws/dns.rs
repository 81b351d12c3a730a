//! Host-name resolution for the AWS HTTP client on Linux, without the C
//! library: `/etc/hosts` first, then the name servers of `/etc/resolv.conf`.
//!
//! The image is one static binary in an empty (`scratch`) root filesystem.
//! glibc's `getaddrinfo`, linked statically, follows `/etc/nsswitch.conf`
//! and loads any module it names other than `files` and `dns` from shared
//! libraries that the image does not have and that must match the glibc it
//! was linked with (the linker warns about it). This resolver reads the two
//! files that container runtimes and Kubernetes provide, as glibc does with
//! `hosts: files dns`: a name listed in `/etc/hosts` is answered from it
//! alone (every address listed for it, in file order); any other name is
//! asked of the name servers, with the search list, `ndots`, timeout and
//! attempts of `/etc/resolv.conf` (hickory-resolver: UDP, TCP when a
//! response is truncated, answers cached for their TTL; A and AAAA, IPv4
//! addresses first). Without `/etc/resolv.conf` the name server is
//! 127.0.0.1, glibc's default. Both files are read once per load (start and
//! each reload), when the first name is resolved: a pod's never change.
//!
//! It is always on, in every Linux build, static or not: one resolution
//! path, the one the image's test runs (tests/image/check.sh). What other
//! NSS sources would answer (mDNS, LDAP, systemd's `myhostname`) is not
//! answered: AWS endpoints and emulators are named in DNS or `/etc/hosts`.
//! Other systems keep the SDK's default, the system's resolver (macOS keeps
//! its resolver configuration outside `/etc/resolv.conf`).
//!
//! It resolves only host names: IP addresses (`http://127.0.0.1:4566`) never
//! reach it. The daemon listens on an IP address (`[server] listen`,
//! `--listen`), and every AWS call (ApiGatewayV2, STS, Organizations, the
//! credential chain) goes through the one HTTP client it is given to
//! (`client::https_client`). One lookup is not its: aws-config checks that
//! an `http://` host name in `AWS_CONTAINER_CREDENTIALS_FULL_URI` is a
//! loopback or container address with its own resolver (getaddrinfo, whose
//! `files` and `dns` sources static glibc has built in); EKS Pod Identity
//! and ECS give an IP address or a relative URI there, and IRSA needs none.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver as DnsResolver, TokioResolver};

const HOSTS: &str = "/etc/hosts";
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The resolver the HTTP client is built with; cheap to clone (each
/// connector the client builds holds one).
#[derive(Clone, Debug)]
pub(super) struct Resolver(Arc<Files>);

/// The files it reads, and what was read from them, once.
struct Files {
    hosts: PathBuf,
    resolv_conf: PathBuf,
    loaded: OnceLock<Loaded>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("hosts", &self.hosts)
            .field("resolv_conf", &self.resolv_conf)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// The system's: `/etc/hosts` and `/etc/resolv.conf`.
    pub(super) fn system() -> Resolver {
        Resolver(Arc::new(Files {
            hosts: HOSTS.into(),
            resolv_conf: RESOLV_CONF.into(),
            loaded: OnceLock::new(),
        }))
    }
}

impl ResolveDns for Resolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::new(async move {
            let files = &self.0;
            let loaded = files.loaded.get_or_init(|| Loaded::read(files));
            loaded.resolve(name).await.map_err(ResolveDnsError::new)
        })
    }
}

/// `/etc/hosts` as a map, and a DNS resolver configured from `/etc/resolv.conf`.
struct Loaded {
    hosts: HashMap<String, Vec<IpAddr>>,
    dns: Result<TokioResolver, String>,
}

impl Loaded {
    fn read(files: &Files) -> Loaded {
        let (config, options) = resolv_conf(&files.resolv_conf);
        Loaded::new(hosts(&files.hosts), config, options)
    }

    fn new(
        hosts: HashMap<String, Vec<IpAddr>>,
        config: ResolverConfig,
        mut options: ResolverOpts,
    ) -> Loaded {
        // The hosts file is ours (above): a name found there is never asked
        // of DNS, for either address family.
        options.use_hosts_file = ResolveHosts::Never;
        // Both families, as getaddrinfo gives them; the connector tries the
        // addresses in turn.
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let dns = DnsResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|err| format!("the DNS resolver cannot be set up: {err}"));
        Loaded { hosts, dns }
    }

    async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if let Some(ips) = self.hosts.get(&key(name)) {
            tracing::debug!(name, ?ips, "resolved from the hosts file");
            return Ok(ips.clone());
        }
        let dns = self.dns.as_ref().map_err(Clone::clone)?;
        let ips: Vec<IpAddr> = dns
            .lookup_ip(name)
            .await
            .map_err(|err| format!("cannot resolve {name}: {err}"))?
            .iter()
            .collect();
        tracing::debug!(name, ?ips, "resolved by DNS");
        if ips.is_empty() {
            return Err(format!("cannot resolve {name}: no address"));
        }
        Ok(ips)
    }
}

/// The hosts file; none (or one that cannot be read) lists no name.
fn hosts(path: &Path) -> HashMap<String, Vec<IpAddr>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_hosts(&text),
        Err(err) => {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %err, "cannot read the hosts file; resolving with DNS alone");
            }
            HashMap::new()
        }
    }
}

/// The name servers, search list and options of resolv.conf; without one,
/// or without a `nameserver` line in it, glibc's default: 127.0.0.1.
fn resolv_conf(path: &Path) -> (ResolverConfig, ResolverOpts) {
    let parsed = match std::fs::read(path) {
        Ok(bytes) => hickory_resolver::system_conf::parse_resolv_conf(bytes)
            .map_err(|err| tracing::warn!(path = %path.display(), error = %err, "cannot use resolv.conf; asking 127.0.0.1")),
        Err(err) => {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %err, "cannot read resolv.conf; asking 127.0.0.1");
            }
            Err(())
        }
    };
    parsed.unwrap_or_else(|()| {
        let config = ResolverConfig::from_parts(
            None,
            Vec::new(),
            vec![NameServerConfig::udp_and_tcp(Ipv4Addr::LOCALHOST.into())],
        );
        (config, ResolverOpts::default())
    })
}

/// A host name as the hosts file is looked up: ASCII case folded, without a
/// trailing dot.
fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// `ADDRESS NAME [ALIAS...]` lines; `#` starts a comment; lines whose first
/// field is not an address are skipped, as glibc skips them.
fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut hosts: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        for name in fields {
            let ips = hosts.entry(key(name)).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::{Arc, Mutex};

    use tokio::net::UdpSocket;

    use super::*;

    #[test]
    fn hosts_file() {
        let hosts = parse_hosts(
            "\u{20}# a comment\n\
             127.0.0.1\tlocalhost\n\
             ::1 localhost ip6-localhost # trailing comment\n\
             10.0.0.7 Moto.Test moto\n\
             not-an-address ignored.test\n\
             10.0.0.8 moto.test.\n",
        );
        assert_eq!(
            hosts["localhost"],
            [
                IpAddr::from(Ipv4Addr::LOCALHOST),
                IpAddr::from(Ipv6Addr::LOCALHOST)
            ]
        );
        assert_eq!(
            hosts[&key("MOTO.test.")],
            [
                "10.0.0.7".parse::<IpAddr>().unwrap(),
                "10.0.0.8".parse().unwrap()
            ]
        );
        assert!(!hosts.contains_key("ignored.test"));
    }

    /// A one-answer DNS server on 127.0.0.1: A queries get `answer`, others
    /// no record. Returns its port and the names it was asked.
    async fn dns_server(answer: Ipv4Addr) -> (u16, Arc<Mutex<Vec<String>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let query = &buf[..len];
                // The question: labels from byte 12, then type and class.
                let mut at = 12;
                let mut labels = Vec::new();
                while query[at] != 0 {
                    let n = usize::from(query[at]);
                    labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + n]).into_owned());
                    at += 1 + n;
                }
                let question = &query[12..at + 5];
                let qtype = u16::from_be_bytes([query[at + 1], query[at + 2]]);
                log.lock().unwrap().push(labels.join("."));
                let a = qtype == 1;
                let mut reply = Vec::new();
                reply.extend_from_slice(&query[..2]); // id
                reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(a), 0, 0, 0, 0]);
                reply.extend_from_slice(question);
                if a {
                    // Name (a pointer to the question's), A, IN, TTL 60, 4 bytes.
                    reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                    reply.extend_from_slice(&answer.octets());
                }
                socket.send_to(&reply, peer).await.unwrap();
            }
        });
        (port, asked)
    }

    /// What resolv.conf says, with the name servers' port moved to `port`
    /// (resolv.conf has no port; a test cannot bind 53).
    fn served_on(text: &str, port: u16) -> (ResolverConfig, ResolverOpts) {
        let (mut config, options) = hickory_resolver::system_conf::parse_resolv_conf(text).unwrap();
        for server in &mut config.name_servers {
            for connection in &mut server.connections {
                connection.port = port;
            }
        }
        (config, options)
    }

    /// A name in the hosts file is answered from it, without a DNS query;
    /// any other name is asked of resolv.conf's name server, with its search
    /// list.
    #[tokio::test]
    async fn hosts_first_then_resolv_conf() {
        let (port, asked) = dns_server(Ipv4Addr::new(192, 0, 2, 7)).await;
        let (config, options) = served_on(
            "nameserver 127.0.0.1\nsearch svc.test\noptions ndots:2 timeout:2 attempts:1\n",
            port,
        );
        assert_eq!(options.ndots, 2);
        let loaded = Loaded::new(parse_hosts("127.0.0.1 moto.test\n"), config, options);

        assert_eq!(
            loaded.resolve("moto.test").await.unwrap(),
            [IpAddr::from(Ipv4Addr::LOCALHOST)]
        );
        assert_eq!(
            loaded.resolve("MOTO.TEST.").await.unwrap(),
            [IpAddr::from(Ipv4Addr::LOCALHOST)]
        );
        assert!(
            asked.lock().unwrap().is_empty(),
            "no DNS query for a hosts name"
        );

        assert_eq!(
            loaded.resolve("apigateway.example").await.unwrap(),
            [IpAddr::from(Ipv4Addr::new(192, 0, 2, 7))]
        );
        let asked = asked.lock().unwrap().clone();
        assert!(
            asked
                .iter()
                .any(|name| name == "apigateway.example.svc.test"),
            "one dot, below ndots 2: the search list first ({asked:?})"
        );

        assert_eq!(
            loaded.resolve("192.0.2.9").await.unwrap(),
            [IpAddr::from(Ipv4Addr::new(192, 0, 2, 9))]
        );
    }

    /// Without resolv.conf, or without a name server in it, 127.0.0.1 is
    /// asked, as glibc does; a missing hosts file lists nothing.
    #[test]
    fn without_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let servers = |path: &Path| {
            resolv_conf(path)
                .0
                .name_servers
                .iter()
                .flat_map(|s| s.connections.iter().map(|c| (s.ip, c.port)))
                .collect::<Vec<_>>()
        };
        let loopback = (IpAddr::from(Ipv4Addr::LOCALHOST), 53);
        assert_eq!(
            servers(&dir.path().join("resolv.conf")),
            [loopback, loopback]
        );
        std::fs::write(dir.path().join("resolv.conf"), "search svc.test\n").unwrap();
        assert_eq!(
            servers(&dir.path().join("resolv.conf")),
            [loopback, loopback]
        );
        std::fs::write(dir.path().join("resolv.conf"), "nameserver 10.96.0.10\n").unwrap();
        assert_eq!(
            servers(&dir.path().join("resolv.conf"))[0],
            ("10.96.0.10".parse().unwrap(), 53)
        );
        assert!(hosts(&dir.path().join("hosts")).is_empty());
    }
}
