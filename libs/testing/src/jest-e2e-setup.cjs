jest.setTimeout(180_000);

// No service instance a test file started outlives the file, whatever its own hooks managed.
afterAll(() => require('@metering/testing').stopInstances());
