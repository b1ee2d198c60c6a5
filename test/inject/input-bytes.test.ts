/** Manifests are UTF-8: what is not is refused (exit 2, naming the input and line), never written back altered. */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const injectStdin = (bytes: Uint8Array) => runInjectCli(['-f', '-'], bytes);

t.test('stdin that is not UTF-8 is refused, naming the line', async (t) => {
  const latin1 = Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: menu}\ndata: {dish: "caf\xe9"}\n', 'latin1');
  const { code, stdout, stderr } = await injectStdin(latin1);
  t.equal(code, 2);
  t.equal(stdout, '');
  t.equal(stderr, 'secrets-init-webhook inject: stdin is not UTF-8 text (line 4); manifests are read and written as UTF-8\n');
});

t.test('UTF-8 stdin comes out byte for byte, byte-order mark included', async (t) => {
  const text = '\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata: {name: menu}\ndata: {dish: "café crème 🍰"}\n';
  const { code, stdout } = await injectStdin(Buffer.from(text, 'utf8'));
  t.equal(code, 0);
  t.equal(stdout, text);
});
