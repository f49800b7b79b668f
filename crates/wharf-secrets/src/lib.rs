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
//!   never touches the network. A malformed `--secret` is reported by its
//!   position (the 2nd `--secret`), never by its text: it may be a value
//!   whose `id=` was forgotten.
//! - **Otherwise Key Vault**, as ACR does: `GET
//!   <vault>/secrets/<name>[/<version>]?api-version=7.4` with a bearer token
//!   for the vault's cloud (`https://vault.azure.net/.default`,
//!   `https://vault.azure.cn/.default` or
//!   `https://vault.usgovcloudapi.net/.default`, from the host suffix). The
//!   URL must be `https` to a Key Vault host of one of those clouds. A
//!   loopback host (`localhost`, `127.0.0.0/8`, `[::1]`; `http` or `https`,
//!   token scope of the public cloud) is accepted only when the environment
//!   sets `WHARF_KEYVAULT_ALLOW_LOOPBACK=1`, which exists for tests against a
//!   local stand-in: otherwise any task file could have the user's token sent
//!   to whatever listens on a local port. Reads run concurrently; each may take
//!   [`DEFAULT_TIMEOUT`] (30 s, token included) and is retried once after a
//!   5xx answer or a connection error. Errors name the secret id
//!   ([`SecretError::id`]) and the vault, never a value or a token.
//!
//! # Credentials
//!
//! Tokens come from `azure_identity`, chosen in this order (environment read
//! when the resolver is created):
//!
//! 1. a managed identity endpoint exists — `IDENTITY_ENDPOINT` +
//!    `IDENTITY_HEADER` (App Service style), or Azure's Instance Metadata
//!    Service answers a one-second probe (an Azure VM, where ACR runs tasks;
//!    the probe sends `Metadata: true` and takes only Azure's compute
//!    metadata as an answer, since other clouds' metadata services listen at
//!    the same address): `ManagedIdentityCredential`, user-assigned with the
//!    declaration's `clientID` when it has one, else system-assigned (what
//!    ACR does);
//! 2. `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are set:
//!    `ClientSecretCredential`;
//! 3. otherwise `DeveloperToolsCredential` (Azure CLI `az login`, then Azure
//!    Developer CLI).
//!
//! When the managed identity cannot give a token and the declaration has no
//! `clientID`, the next credential (2, else 3) is tried; the error then names
//! every credential tried and why each failed. A `clientID` written for ACR
//! does not stop a task from running on a laptop with the developer's own
//! login (there is no managed identity endpoint there), but on a machine with
//! one, that identity is the only one used.
//! `WHARF_AZURE_CREDENTIAL=managed-identity|client-secret|developer-tools`
//! forces one kind (`auto` is the order above; `managed-identity` takes any
//! answer at the metadata address as the endpoint). One credential is created
//! per client id and reused, with its token cache, for the resolver's life.
//!
//! [`AzureCredential`] offers the same choice for other Azure scopes (ARM, for
//! `wharf run --on acr://`), so wharf picks its Azure credential one way.
//!
//! Neither values nor tokens appear in `Debug` output of this crate's types.

mod azure;
mod credential;
mod dotenv;
mod error;
mod keyvault;
mod local;
mod resolver;
mod vault_url;

pub use azure::{AzureCredential, AzureCredentialError};
pub use error::SecretError;
pub use local::LocalSecrets;
pub use resolver::{DEFAULT_TIMEOUT, Resolver};
