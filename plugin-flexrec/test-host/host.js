/*
 * The Flex host contract the plugin uses, for the browser test: Twilio.Flex.Plugins.init,
 * Manager (user.token/identity, serviceConfiguration.ui_attributes, events 'tokenUpdated'),
 * Actions.registerAction/invokeAction, CallCanvas.Content.add and withTaskContext. The test
 * sets window.__FLEX_HOST_CONFIG__ = {serviceUrl, token, identity, task} before the page loads.
 */
(function () {
  'use strict';
  var config = window.__FLEX_HOST_CONFIG__ || {};
  var e = React.createElement;
  var TaskContext = React.createContext(undefined);
  var listeners = {};
  var actions = {};
  var canvas = [];
  var plugins = [];

  var manager = {
    user: { token: config.token, identity: config.identity, roles: ['agent'] },
    workerClient: { sid: config.workerSid },
    configuration: {},
    serviceConfiguration: { ui_attributes: { flexrec: { serviceUrl: config.serviceUrl, waitSeconds: 20 } } },
    events: {
      addListener: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
      removeListener: function (name, fn) {
        listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
      },
    },
  };

  var Flex = {
    Manager: { getInstance: function () { return manager; } },
    Plugins: { init: function (PluginClass) { plugins.push(PluginClass); } },
    Actions: {
      registerAction: function (name, fn) { actions[name] = fn; },
      invokeAction: function (name, payload) {
        var fn = actions[name];
        if (!fn) { return Promise.reject(new Error('unknown action ' + name)); }
        return Promise.resolve().then(function () { return fn(payload || {}); });
      },
    },
    CallCanvas: { Content: { add: function (element, options) { canvas.push({ element: element, options: options || {} }); } } },
    withTaskContext: function (Component) {
      return function WithTaskContext(props) {
        return e(TaskContext.Consumer, null, function (task) {
          return e(Component, Object.assign({}, props, { task: task }));
        });
      };
    },
  };
  window.Twilio = { Flex: Flex };

  function render() {
    var task = config.task;
    document.getElementById('agent').textContent = config.identity || '';
    document.getElementById('task-line').textContent = task ? task.taskSid + ' · ' + task.status : 'no task';
    var items = canvas
      .slice()
      .sort(function (a, b) { return (a.options.sortOrder || 0) - (b.options.sortOrder || 0); })
      .map(function (c) { return c.element; });
    ReactDOM.render(
      e(TaskContext.Provider, { value: task }, items),
      document.getElementById('canvas-content')
    );
  }

  window.flexHost = {
    start: function () {
      plugins.forEach(function (PluginClass) { new PluginClass().init(Flex, manager); });
      render();
    },
    /** Flex renewed the agent's token. */
    renewToken: function (token) {
      manager.user.token = token;
      (listeners.tokenUpdated || []).forEach(function (fn) { fn({ token: token }); });
    },
    /** The reservation's status changed (e.g. wrapping). */
    setTaskStatus: function (status) {
      config.task = Object.assign({}, config.task, { status: status });
      render();
    },
    invoke: function (name, payload) { return Flex.Actions.invokeAction(name, payload); },
    actions: function () { return Object.keys(actions); },
  };
})();
