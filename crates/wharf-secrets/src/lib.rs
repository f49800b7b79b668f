//! Secret values for acb.yaml tasks.
//!
//! A task declares secrets by id with an Azure Key Vault secret URL and, for a
//! user-assigned managed identity, its client id:
//!
//! ```yaml
//! secrets:
//!   - id: pw
//!     keyvault: https://myvault.vault.azure.net/secrets/password   # optionally /<version>
//!     clientID: c1a2b3c4-0000-1111-2222-333344445555              # optional
//! ```
//!
//! [`Resolver::resolve`] gives every declaration its value:
//!
//! - **Local values win.** [`LocalSecrets`] collects `--secret id=value`,
//!   `--secret id` (value from the environment variable `id`) and
//!   `--secret-file` (dotenv) values. A declaration whose id has a local value
//!   never touches the network.
//! - **Otherwise Key Vault**, as ACR does: `GET
//!   <vault>/secrets/<name>[/<version>]?api-version=7.4` with a bearer token
//!   for the vault's cloud (`https://vault.azure.net/.default`,
//!   `https://vault.azure.cn/.default` or
//!   `https://vault.usgovcloudapi.net/.default`, from the host suffix). The
//!   URL must be `https` to a Key Vault host of one of those clouds; plain
//!   `http` is accepted only to a loopback host (`localhost`, `127.0.0.0/8`,
//!   `[::1]`, token scope of the public cloud), which exists for testing
//!   against a local stand-in. Reads run concurrently; each may take
//!   [`DEFAULT_TIMEOUT`] (30 s, token included) and is retried once after a
//!   5xx answer or a connection error. Errors name the secret id and the
//!   vault, never a value or a token.
//!
//! # Credentials
//!
//! Tokens come from `azure_identity`, chosen in this order (environment read
//! when the resolver is created):
//!
//! 1. a managed identity endpoint exists — `IDENTITY_ENDPOINT` +
//!    `IDENTITY_HEADER` (App Service style), or the Azure Instance Metadata
//!    Service answers a one-second probe (an Azure VM, where ACR runs tasks):
//!    `ManagedIdentityCredential`, user-assigned with the declaration's
//!    `clientID` when it has one, else system-assigned (what ACR does);
//! 2. `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are set:
//!    `ClientSecretCredential`;
//! 3. otherwise `DeveloperToolsCredential` (Azure CLI `az login`, then Azure
//!    Developer CLI).
//!
//! A `clientID` written for ACR therefore does not stop a task from running
//! on a laptop with the developer's own login.
//! `WHARF_AZURE_CREDENTIAL=managed-identity|client-secret|developer-tools`
//! forces one kind (`auto` is the order above). One credential is created per
//! client id and reused, with its token cache, for the resolver's life.
//!
//! Neither values nor tokens appear in `Debug` output of this crate's types.

mod credential;
mod dotenv;
mod error;
mod keyvault;
mod local;
mod resolver;
mod vault_url;

pub use error::SecretError;
pub use local::LocalSecrets;
pub use resolver::{DEFAULT_TIMEOUT, Resolver};
