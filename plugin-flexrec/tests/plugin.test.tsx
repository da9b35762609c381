import React from 'react';
import { act, render, screen, waitFor } from '@testing-library/react';
import type { ITask } from '@twilio/flex-ui';

import { PAUSE_ACTION, RESUME_ACTION } from '../src/actions';
import FlexrecPlugin, { PLUGIN_NAME } from '../src/FlexrecPlugin';
import { FlexHost, installFlexrec } from '../src/setup';
import { FakeFlexrec, TASK } from './fakes';
import { fakeManager } from './fake-manager';

const TaskContext = React.createContext<ITask | undefined>(undefined);

/** The parts of Flex the plugin uses: an Actions registry, the call canvas, task context. */
function fakeFlex() {
  const actions = new Map<string, (payload: unknown) => unknown>();
  const canvas: Array<{ element: React.ReactElement; options: unknown }> = [];
  const flex = {
    Actions: {
      registerAction: (name: string, fn: (payload: unknown) => unknown) => actions.set(name, fn),
      invokeAction: async (name: string, payload: unknown) => {
        const fn = actions.get(name);
        if (!fn) {
          throw new Error(`no action ${name}`);
        }
        return fn(payload);
      },
    },
    CallCanvas: { Content: { add: (element: React.ReactElement, options: unknown) => canvas.push({ element, options }) } },
    withTaskContext: (Component: React.ComponentType<{ task?: ITask }>) =>
      function WithTask(props: object) {
        return <TaskContext.Consumer>{(task) => <Component {...props} task={task} />}</TaskContext.Consumer>;
      },
  };
  return { flex: flex as unknown as FlexHost, actions, canvas };
}

const TASK_OBJ: ITask = { taskSid: TASK, sid: 'WR' + 'c'.repeat(32), taskChannelUniqueName: 'voice', status: 'accepted', attributes: {} };

describe('installing into Flex', () => {
  it('registers PauseRecording/ResumeRecording and adds the panel to the call canvas', async () => {
    const server = new FakeFlexrec();
    const { manager } = fakeManager({ flexrec: { serviceUrl: 'https://rec.example.com' } });
    const { flex, actions, canvas } = fakeFlex();
    const installed = installFlexrec(flex, manager, server.fetch);
    expect(installed).not.toBeNull();
    expect([...actions.keys()]).toEqual([PAUSE_ACTION, RESUME_ACTION]);
    expect(canvas).toHaveLength(1);
    const view = render(<TaskContext.Provider value={TASK_OBJ}>{canvas[0].element}</TaskContext.Provider>);
    await waitFor(() => expect(screen.getByTestId('flexrec-indicator')).toHaveAttribute('data-state', 'recording'));
    // A CRM pauses by task SID through the Actions Framework: the panel follows.
    let state: unknown;
    await act(async () => {
      state = await flex.Actions.invokeAction(PAUSE_ACTION, { taskSid: TASK });
    });
    expect(state).toMatchObject({ state: 'paused' });
    await waitFor(() => expect(screen.getByTestId('flexrec-indicator')).toHaveAttribute('data-state', 'paused'));
    await act(async () => {
      await flex.Actions.invokeAction(RESUME_ACTION, { task: TASK_OBJ });
    });
    await waitFor(() => expect(screen.getByTestId('flexrec-indicator')).toHaveAttribute('data-state', 'recording'));
    await expect(flex.Actions.invokeAction(PAUSE_ACTION, {})).rejects.toThrow('need a `task` or a `taskSid`');
    view.unmount();
    installed?.tokens.close();
  });

  it('an Action refused by the service rejects with its status', async () => {
    const server = new FakeFlexrec();
    server.foreign.add('tok-1');
    const { manager } = fakeManager({ flexrec: { serviceUrl: 'https://rec.example.com' } });
    const { flex } = fakeFlex();
    installFlexrec(flex, manager, server.fetch)?.tokens.close();
    await expect(flex.Actions.invokeAction(PAUSE_ACTION, { taskSid: TASK })).rejects.toMatchObject({ status: 403 });
  });

  it('without a service URL adds nothing and says what to set', () => {
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const { manager } = fakeManager({});
    const { flex, actions, canvas } = fakeFlex();
    expect(installFlexrec(flex, manager)).toBeNull();
    expect(actions.size).toBe(0);
    expect(canvas).toHaveLength(0);
    expect(error).toHaveBeenCalledWith(expect.stringContaining('ui_attributes.flexrec.serviceUrl'));
    error.mockRestore();
  });

  it('is a Flex plugin that Flex can load and init', () => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const plugin = new FlexrecPlugin();
    expect(plugin.name).toBe(PLUGIN_NAME);
    expect(plugin.uniqueName).toBe('plugin-flexrec');
    const { manager } = fakeManager({ flexrec: { serviceUrl: 'https://rec.example.com' } });
    const { flex, actions } = fakeFlex();
    plugin.init(flex as never, manager);
    expect(actions.has(PAUSE_ACTION)).toBe(true);
  });
});
