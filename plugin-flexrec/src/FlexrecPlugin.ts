import type * as Flex from '@twilio/flex-ui';
import { FlexPlugin } from '@twilio/flex-plugin';

import { installFlexrec } from './setup';

export const PLUGIN_NAME = 'FlexrecPlugin';

/** flexrec's Flex plugin: the recording indicator and Pause/Resume on the active call. */
export default class FlexrecPlugin extends FlexPlugin {
  constructor() {
    super(PLUGIN_NAME);
  }

  /** Called by Flex once, with the Flex global and the Manager. */
  init(flex: typeof Flex, manager: Flex.Manager): void {
    installFlexrec(flex, manager);
  }
}
