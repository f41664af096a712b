// Written by scripts/ncc-entry.mjs: @actions/http-client is not bundled (see UNBUNDLED there).
const refuse = () => {
  throw new Error('runbox does not bundle @actions/http-client: @actions/core getIDToken (OIDC) is not available');
};
export class HttpClient {
  constructor() {
    refuse();
  }
}
export class BearerCredentialHandler {
  constructor() {
    refuse();
  }
}
