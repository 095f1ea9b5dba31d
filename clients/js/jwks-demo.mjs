// A stand-in identity provider for trying Switchboard with tokens signed by a
// private key, as Auth0, Keycloak, Cognito or your own login service sign
// them: it makes an ES256 key pair at start, publishes the public key as a
// JWKS, and signs tokens for whoever asks. Node's standard library only.
//
//     node clients/js/jwks-demo.mjs [--port 8700]
//
//     GET /.well-known/jwks.json   the public key (what --jwks-url points at)
//     GET /token?sub=ada&name=Ada  a token for user `ada`, valid for an hour,
//                                  iss = this server's URL, aud = "switchboard"
//
// The first line it prints is the JWKS URL. Never use it for anything real:
// anyone who can reach it gets a token for any user.
import { createServer } from "node:http";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";

const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 8700;
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const kid = randomUUID();
const jwks = { keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" }] };
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

function token(issuer, sub, name) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, iss: issuer, aud: "switchboard", iat: now, exp: now + 3600, ...(name && { name }) };
  const signed = `${b64({ alg: "ES256", typ: "JWT", kid })}.${b64(claims)}`;
  // JWS wants the raw r||s signature, not DER.
  const signature = sign("sha256", Buffer.from(signed), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${signed}.${signature.toString("base64url")}`;
}

const server = createServer((req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const issuer = `http://127.0.0.1:${server.address().port}`;
  if (url.pathname === "/.well-known/jwks.json") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
  } else if (url.pathname === "/token" && url.searchParams.get("sub")) {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(token(issuer, url.searchParams.get("sub"), url.searchParams.get("name")));
  } else {
    res.writeHead(404, { "content-type": "text/plain" }).end("GET /.well-known/jwks.json or /token?sub=USER\n");
  }
});
server.listen(port, "127.0.0.1", () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`${base}/.well-known/jwks.json`);
  console.log(`issuer ${base}, audience switchboard; a token: curl -s '${base}/token?sub=ada&name=Ada'`);
});
