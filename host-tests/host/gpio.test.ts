/* Simulated GPIO (`embedded:io/digital`) seen and driven from outside through the control channel. */
import Digital from "embedded:io/digital";
import { test, assert } from "../lib/harness";
import { fixture, startHost } from "../lib/process";

test("an output's level shows on the control channel; an input driven from outside fires onReadable", async () => {
  const host = startHost(fixture("gpio"), { control: true });
  try {
    await host.waitFor(/ready 1/);
    await host.waitFor(/^@pin 8 1$/m);
    let reply = host.waitForNext(/^@pin 8 (\d)$/m);
    host.send("pin 8\n");
    assert.equal((await reply)[1], "1");
    const falling = host.waitForNext(/^edge 4 0$/m);
    host.send("pin 4 0\n");
    await falling;
    const rising = host.waitForNext(/^edge 4 1$[\s\S]*^@pin 8 0$/m);
    host.send("pin 4 1\n");
    await rising;
    reply = host.waitForNext(/^@pin 8 (\d)$/m);
    host.send("pin 8\n");
    assert.equal((await reply)[1], "0", "the fixture turns pin 8 off on a rising edge of pin 4");
    const error = host.waitForNext(/^@error pin: invalid pin$/m);
    host.send("pin 99\n");
    await error;
  } finally {
    host.kill();
    await host.wait();
  }
});

test("pins follow the device's rules: range, mode, one owner at a time", () => {
  assert.throws(() => new Digital({ pin: 22, mode: Digital.Output }), RangeError);
  const out = new Digital({ pin: 3, mode: Digital.Output });
  try {
    assert.throws(() => new Digital({ pin: 3, mode: Digital.Input }), /in use/);
    out.write(1);
    assert.equal(out.read(), 1);
    const input = new Digital({ pin: 5, mode: Digital.InputPullUp });
    assert.equal(input.read(), 1);
    assert.throws(() => input.write(0), /not an output/);
    input.close();
  } finally {
    out.close();
  }
  const again = new Digital({ pin: 3, mode: Digital.Input });
  again.close();
});
