// flexsim's second client: the official Node.js SDK, asked what flex-project-template's
// serverless functions ask of Twilio (serverless-functions/src/functions/features/
// dual-channel-recording/flex/create-recording.js, pause-recording/flex/pause-call-recording.js,
// pause-conference-recording.js, resume-conference-recording.js, and the If-Match attribute
// update of common/twilio-wrappers/taskrouter.private.js). Our own code, their calls.
//
// Run by flexsim/tests/integration/node/test_sim_twilio_node.py, which starts a simulator,
// arranges a Flex call and passes FLEXSIM_URL and FLEXSIM_WORLD (the SIDs) in the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import twilio from 'twilio';

const base = new URL(process.env.FLEXSIM_URL);
const world = JSON.parse(process.env.FLEXSIM_WORLD);

// twilio-node's documented extension point is its HTTP client (`httpClient` option): this one
// keeps each request's path and query and sends it to the simulator instead of *.twilio.com.
class SimRequestClient extends twilio.RequestClient {
  request(opts) {
    const target = new URL(opts.uri);
    if (target.hostname.endsWith('twilio.com')) {
      target.protocol = base.protocol;
      target.host = base.host;
    }
    return super.request({ ...opts, uri: target.toString() });
  }
}

const client = twilio(world.account_sid, world.auth_token, {
  httpClient: new SimRequestClient(),
});

test('create-recording: a dual recording of the call, paused and resumed', async () => {
  const recording = await client.calls(world.customer_call_sid).recordings.create({
    recordingChannels: 'dual',
  });
  assert.equal(recording.channels, 2);
  assert.equal(recording.status, 'in-progress');
  assert.equal(recording.callSid, world.customer_call_sid);
  // pause-call-recording.js: the running recording by Twilio.CURRENT, silence by default
  const paused = await client
    .calls(world.customer_call_sid)
    .recordings('Twilio.CURRENT')
    .update({ status: 'paused', pauseBehavior: 'silence' });
  assert.equal(paused.sid, recording.sid);
  assert.equal(paused.status, 'paused');
  const resumed = await client
    .calls(world.customer_call_sid)
    .recordings(recording.sid)
    .update({ status: 'in-progress' });
  assert.equal(resumed.status, 'in-progress');
});

test('create-recording on a call that has ended: 21220, as the template expects', async () => {
  await assert.rejects(
    client.calls(world.ended_call_sid).recordings.create({ recordingChannels: 'dual' }),
    (error) => error.status === 400 && error.code === 21220,
  );
});

test("pause-/resume-conference-recording: Flex's own recording of the conference", async () => {
  const paused = await client
    .conferences(world.conference_sid)
    .recordings('Twilio.CURRENT')
    .update({ status: 'paused', pauseBehavior: 'silence' });
  assert.equal(paused.status, 'paused');
  assert.equal(paused.conferenceSid, world.conference_sid);
  const resumed = await client
    .conferences(world.conference_sid)
    .recordings(paused.sid)
    .update({ status: 'in-progress' });
  assert.equal(resumed.status, 'in-progress');
  const listed = await client.conferences(world.conference_sid).recordings.list();
  assert.deepEqual(
    listed.map((r) => r.sid),
    [paused.sid],
  );
  const byConference = await client.recordings.list({ conferenceSid: world.conference_sid });
  assert.deepEqual(
    byConference.map((r) => r.sid),
    [paused.sid],
  );
});

test("conference-participant: a task's conference by FriendlyName, its participants, hold", async () => {
  const [conference] = await client.conferences.list({
    friendlyName: world.task_sid,
    status: 'in-progress',
  });
  assert.equal(conference.sid, world.conference_sid);
  const participants = await client.conferences(conference.sid).participants.list();
  assert.deepEqual(participants.map((p) => p.callSid).sort(), [world.customer_call_sid, world.worker_call_sid].sort());
  const held = await client
    .conferences(conference.sid)
    .participants(world.customer_call_sid)
    .update({ hold: true });
  assert.equal(held.hold, true);
  await client.conferences(conference.sid).participants(world.customer_call_sid).update({ hold: false });
});

test('updateTaskAttributes: fetch for the ETag, then POST with If-Match (412 when stale)', async () => {
  const url = new URL(`/v1/Workspaces/${world.workspace_sid}/Tasks/${world.task_sid}`, base);
  const auth = `Basic ${Buffer.from(`${world.account_sid}:${world.auth_token}`).toString('base64')}`;
  const fetched = await fetch(url, { headers: { Authorization: auth } });
  assert.equal(fetched.status, 200);
  const revision = JSON.parse(fetched.headers.get('etag'));
  const task = await fetched.json();
  const attributes = { ...JSON.parse(task.attributes), node_client: { replayed: true } };
  const post = (ifMatch) =>
    fetch(url, {
      method: 'POST',
      headers: {
        Authorization: auth,
        'If-Match': String(ifMatch),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ Attributes: JSON.stringify(attributes) }),
    });
  const written = await post(revision);
  assert.equal(written.status, 200);
  assert.deepEqual(JSON.parse((await written.json()).attributes).node_client, { replayed: true });
  const stale = await post(revision);
  assert.equal(stale.status, 412);
  assert.equal((await stale.json()).code, 20412);
});

test('the SDK refuses what Twilio refuses: wrong credentials are a 401 RestException', async () => {
  const wrong = twilio(world.account_sid, 'not-the-token', { httpClient: new SimRequestClient() });
  await assert.rejects(wrong.calls(world.customer_call_sid).fetch(), (error) => error.status === 401);
});
