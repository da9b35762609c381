/**
 * The part of the Flex UI 2.x host contract this plugin uses. `@twilio/flex-ui` is the host's:
 * Flex provides it at run time as `window.Twilio.Flex` (see scripts/flex-shim.js), so it is not
 * installed here; these declarations mirror its documented API for the members we touch.
 */
declare module '@twilio/flex-ui' {
  import type * as React from 'react';

  export interface ITask {
    /** TaskRouter task SID (WT…). */
    taskSid: string;
    /** Reservation SID (WR…). */
    sid: string;
    taskChannelUniqueName: string;
    /** Reservation status: pending, accepted, wrapping, completed, canceled… */
    status: string;
    attributes: Record<string, unknown>;
    workerSid?: string;
  }

  export interface TokenPayload {
    token: string;
    expiration?: string;
  }

  export interface FlexEvents {
    addListener(event: 'tokenUpdated', listener: (payload: TokenPayload) => void): unknown;
    removeListener(event: 'tokenUpdated', listener: (payload: TokenPayload) => void): unknown;
  }

  export class Manager {
    static getInstance(): Manager;
    user: { token: string; identity: string; roles?: string[] };
    workerClient?: { sid: string };
    configuration: Record<string, unknown>;
    serviceConfiguration: { ui_attributes?: Record<string, unknown> };
    events: FlexEvents;
  }

  export type ActionFunction = (payload: any) => Promise<unknown> | unknown;

  export const Actions: {
    registerAction(name: string, action: ActionFunction, payloadUpdate?: (p: any) => any): void;
    invokeAction(name: string, payload?: Record<string, unknown>): Promise<unknown>;
  };

  export interface ContentOptions {
    sortOrder?: number;
    if?: (props: any) => boolean;
  }

  export interface DynamicContent {
    add(element: React.ReactElement, options?: ContentOptions): void;
  }

  export const CallCanvas: { Content: DynamicContent };

  export function withTaskContext<P>(
    component: React.ComponentType<P & { task?: ITask }>,
  ): React.ComponentType<P>;
}
