/* Stand-in for the host's @twilio/flex-ui module in unit tests (never imported by src at run
   time except through types; the plugin receives the real Flex in init()). */
export const Actions = {};
export const CallCanvas = {};
export function withTaskContext<P>(component: P): P {
  return component;
}
